using System.Runtime.CompilerServices;

// libtorch's global RNG is process-wide and a test that checks it must not race others: one test at a time.
[assembly: Xunit.v3.Parallelization(Mode = Xunit.Sdk.ParallelMode.None)]

namespace Assistant.Modeling.Tests;

internal static class TestProcess
{
    /// <summary>
    /// Tiny test models gain nothing from a second intra-op thread, and 2-thread OpenMP stalls badly
    /// when other processes share the cores (see PLATFORM.md): one thread keeps the suite fast and steady.
    /// </summary>
    [ModuleInitializer]
    internal static void UseOneTorchThread() => TorchSharp.torch.set_num_threads(1);
}
