using System.Reflection;
using Assistant.Benchmarks;

// Every IBenchmark in this assembly is runnable by name; no argument lists them.
var benchmarks = Assembly.GetExecutingAssembly().GetTypes()
    .Where(t => t is { IsAbstract: false, IsInterface: false } && typeof(IBenchmark).IsAssignableFrom(t))
    .Select(t => (IBenchmark)Activator.CreateInstance(t)!)
    .OrderBy(b => b.Name)
    .ToList();

var chosen = args.Length > 0 ? benchmarks.FirstOrDefault(b => b.Name == args[0]) : null;
if (chosen is null)
{
    Console.Error.WriteLine("usage: dotnet run -c Release --project tests/Assistant.Benchmarks -- <benchmark> [options]");
    foreach (var benchmark in benchmarks)
    {
        Console.Error.WriteLine($"  {benchmark.Name,-12} {benchmark.Description}");
    }
    return args.Length == 0 ? 0 : 2;
}
return await chosen.RunAsync(args[1..], CancellationToken.None);
