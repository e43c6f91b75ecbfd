namespace Assistant.Trainer.Tests;

public sealed class WorkerResourcesTests
{
    private const long MiB = 1024 * 1024;

    [Fact]
    public void One_gpu_reads_utilisation_and_memory_in_mebibytes()
    {
        // nvidia-smi --query-gpu=utilization.gpu,memory.used,memory.total --format=csv,noheader,nounits
        var (utilization, used, total) = WorkerResources.ParseNvidiaSmi("37, 1234, 143771\n");
        Assert.Equal(37, utilization);
        Assert.Equal(1234 * MiB, used);
        Assert.Equal(143771 * MiB, total);
    }

    [Fact]
    public void Several_gpus_are_summed_and_their_utilisation_averaged()
    {
        var (utilization, used, total) = WorkerResources.ParseNvidiaSmi("10, 100, 1000\n30, 300, 1000\n");
        Assert.Equal(20, utilization);
        Assert.Equal(400 * MiB, used);
        Assert.Equal(2000 * MiB, total);
    }

    [Fact]
    public void Unsupported_fields_and_noise_are_skipped()
    {
        Assert.Equal((null, 512 * MiB, 1024 * MiB), WorkerResources.ParseNvidiaSmi("[N/A], 512, 1024\n"));
        Assert.Equal((null, null, null), WorkerResources.ParseNvidiaSmi("No devices were found\n"));
    }
}
