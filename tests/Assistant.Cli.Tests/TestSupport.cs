using System.Runtime.CompilerServices;
using Assistant.Modeling;

// libtorch's global state is process-wide and the cores are few: one test at a time.
[assembly: Xunit.v3.Parallelization(Mode = Xunit.Sdk.ParallelMode.None)]
[assembly: AssemblyFixture(typeof(Assistant.Cli.Tests.StarterModels))]

namespace Assistant.Cli.Tests;

internal static class TestProcess
{
    /// <summary>Tiny models gain nothing from a second intra-op thread, and 2-thread OpenMP stalls on shared cores.</summary>
    [ModuleInitializer]
    internal static void UseOneTorchThread() => TorchSharp.torch.set_num_threads(1);
}

/// <summary>What one run of the command line printed.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\nstdout: {Stdout}\nstderr: {Stderr}";
}

/// <summary>Runs <c>assistant</c> in process, as a user would from a shell.</summary>
public static class Cli
{
    public static CliResult Run(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = CliApp.RunAsync(args, stdout, stderr, TestContext.Current.CancellationToken).GetAwaiter().GetResult();
        return new CliResult(code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Runs and insists on success, showing what was printed when it fails.</summary>
    public static CliResult Ok(params string[] args)
    {
        var result = Run(args);
        Assert.True(result.ExitCode == 0, $"assistant {string.Join(" ", args)} failed: {result}");
        return result;
    }
}

/// <summary>A temporary folder deleted when the test ends.</summary>
public sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("assistant-cli-").FullName;
    public string Sub(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose() => Directory.Delete(Path, recursive: true);
}

/// <summary>Tiny starter models made once per test run with <c>assistant model init</c>.</summary>
public sealed class StarterModels : IDisposable
{
    public const long Seed = 7;
    readonly TempFolder temp = new();

    public StarterModels()
    {
        foreach (var arch in new[] { "llama", "gpt2" })
            InitOutput[arch] = Cli.Ok("model", "init", "--arch", arch, "--preset", "tiny", "--seed", Seed.ToString(), "--out", Folder(arch)).Stdout;
    }

    /// <summary>What <c>model init</c> printed for each architecture.</summary>
    public Dictionary<string, string> InitOutput { get; } = [];

    public string Folder(string arch) => temp.Sub(arch);

    public void Dispose() => temp.Dispose();
}

internal static class Expect
{
    /// <summary>An error a user caused: the given exit code, one line on stderr naming the problem, no stack trace.</summary>
    public static void UserError(CliResult result, int exitCode, string mentions)
    {
        Assert.True(result.ExitCode == exitCode, $"expected exit {exitCode}: {result}");
        var lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.True(lines.Length == 1, $"expected one line on stderr: {result}");
        Assert.Contains(mentions, lines[0]);
        Assert.DoesNotContain("   at ", result.Stderr);
        Assert.DoesNotContain("Exception", result.Stderr);
        Assert.DoesNotContain("Unexpected error", result.Stderr);
        Assert.Equal("", result.Stdout);
    }

    /// <summary>The greedy or seeded tokens straight from <see cref="TokenGenerator"/>, decoded as the CLI prints them.</summary>
    public static string Generated(string folder, IReadOnlyList<int> prompt, SamplingOptions options)
    {
        using var loaded = LoadedModel.Load(folder);
        var ids = new TokenGenerator(loaded.Model).Generate(prompt, options).TokenIds;
        return loaded.Tokenizer.Decode(ids, skipSpecialTokens: true);
    }
}
