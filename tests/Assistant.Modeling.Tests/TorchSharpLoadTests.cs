using static TorchSharp.torch;

namespace Assistant.Modeling.Tests;

/// <summary>The Debian 12 load fix (build/LibTorchSharpDebianFix.targets) on this test project's own output.</summary>
public class TorchSharpLoadTests
{
    [Fact]
    public void Libtorch_loads_and_computes()
    {
        using var x = randn(3);
        Assert.Equal([3L], x.shape);
        Assert.True(float.IsFinite(x.sum().item<float>()));
        using var y = tensor(new float[] { 1, 2, 3 });
        Assert.Equal(14f, y.dot(y).item<float>());
    }

    [Fact]
    public void Output_copy_differs_from_the_nuget_original_only_in_the_weak_flag()
    {
        var output = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        var version = typeof(TorchSharp.torch).Assembly.GetName().Version!;
        var packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var original = Path.Combine(packages, "torchsharp", $"{version.Major}.{version.Minor}.{version.Build}", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        Assert.True(File.Exists(output), output);
        Assert.True(File.Exists(original), original);

        var (patched, cached) = (File.ReadAllBytes(output), File.ReadAllBytes(original));
        Assert.Equal(cached.Length, patched.Length);
        var differing = Enumerable.Range(0, cached.Length).Where(i => cached[i] != patched[i]).ToList();
        // One vna_flags byte of the GLIBCXX_3.4.32 Vernaux gains VER_FLG_WEAK; the NuGet cache keeps the original.
        var at = Assert.Single(differing);
        Assert.Equal(cached[at] | 0x2, patched[at]);
    }
}
