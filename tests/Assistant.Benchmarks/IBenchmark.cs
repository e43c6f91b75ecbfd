namespace Assistant.Benchmarks;

/// <summary>One benchmark, run by name from the command line; it prints its own figures.</summary>
public interface IBenchmark
{
    /// <summary>The name given on the command line, e.g. <c>decode</c>.</summary>
    string Name { get; }

    /// <summary>One line on what it measures, for the listing.</summary>
    string Description { get; }

    Task<int> RunAsync(string[] args, CancellationToken ct);
}
