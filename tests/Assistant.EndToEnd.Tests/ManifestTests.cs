using System.Diagnostics;
using System.Reflection;

namespace Assistant.EndToEnd.Tests;

/// <summary>The committed aspire-manifest.json is what the AppHost generates now.</summary>
public sealed class ManifestTests
{
    [Fact]
    public async Task Committed_manifest_matches_a_freshly_generated_one()
    {
        var ct = TestContext.Current.CancellationToken;
        var root = RepositoryRoot();
        // Same folder as the committed file: the manifest's paths are relative to where it is written.
        var generated = Path.Combine(root, "aspire-manifest.check.json");
        try
        {
            var configuration = typeof(ManifestTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()!.Configuration;
            var start = new ProcessStartInfo("dotnet")
            {
                ArgumentList = { "run", "--project", Path.Combine(root, "AppHost"), "--no-build", "-c", configuration, "--",
                    "--publisher", "manifest", "--output-path", generated },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = root,
            };
            start.Environment.Remove("Infra"); // publishing always describes the container deployment
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync(ct);
            var error = process.StandardError.ReadToEndAsync(ct);
            await process.WaitForExitAsync(ct);
            Assert.True(process.ExitCode == 0, $"manifest generation failed: {await output}{await error}");

            var expected = await File.ReadAllTextAsync(Path.Combine(root, "aspire-manifest.json"), ct);
            var actual = await File.ReadAllTextAsync(generated, ct);
            Assert.True(expected.ReplaceLineEndings() == actual.ReplaceLineEndings(),
                "aspire-manifest.json is stale: regenerate it with the command in README.md");
        }
        finally
        {
            File.Delete(generated);
        }
    }

    internal static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Assistant.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("Assistant.sln not found above the test folder.");
    }
}
