using Microsoft.Extensions.Options;

namespace Assistant.Inference.Serving;

/// <summary>
/// Static mode (<c>Inference:ModelFolder</c>): serves one local folder as version 1, with no registry, object store or
/// Redis, for offline use and tests. The replica is ready once the folder is loaded.
/// </summary>
internal sealed class StaticModelSource(ModelHost host, IOptions<InferenceOptions> options) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        var folder = Path.GetFullPath(settings.ModelFolder!);
        var created = new DateTimeOffset(Directory.GetLastWriteTimeUtc(folder), TimeSpan.Zero);
        await host.LoadAsync(new ModelVersionInfo(settings.StaticModelName, 1, null, created, new ModelLineage("folder", null, null, null, null)),
            folder, stoppingToken);
        host.MarkResolved();
    }
}
