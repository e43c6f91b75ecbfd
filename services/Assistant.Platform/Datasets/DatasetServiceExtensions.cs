using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Assistant.Platform.Datasets;

public static class DatasetServiceExtensions
{
    public static IHostApplicationBuilder AddDatasets(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<DatasetOptions>().BindConfiguration("Datasets")
            .Validate(o => o.ChunkChars > o.OverlapChars && o.OverlapChars >= 0, "Datasets:ChunkChars must exceed Datasets:OverlapChars >= 0")
            .ValidateOnStart();
        builder.Services.AddScoped<DatasetCatalog>();
        return builder;
    }
}
