using Assistant.Testing;

[assembly: AssemblyFixture(typeof(Assistant.EndToEnd.Tests.PlatformFixture))]

namespace Assistant.EndToEnd.Tests;

/// <summary>The platform shared by the whole test assembly: started once, stopped at the end.</summary>
public sealed class PlatformFixture : IAsyncLifetime
{
    private readonly ScratchDirectory _data = new();
    private RunningPlatform? _platform;

    public RunningPlatform Platform => _platform ?? throw new InvalidOperationException("The platform has not started.");

    public async ValueTask InitializeAsync() => _platform = await RunningPlatform.StartAsync(_data.Path, PlatformSecrets.CreateRandom());

    public async ValueTask DisposeAsync()
    {
        if (_platform is not null)
        {
            await _platform.DisposeAsync();
        }
        _data.Dispose();
    }
}
