using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;

namespace Assistant.Platform.Persistence;

public static class PlatformDatabaseExtensions
{
    /// <summary>Connection name of the platform database in every infrastructure mode.</summary>
    public const string ConnectionName = "assistantdb";

    public static IHostApplicationBuilder AddPlatformDatabase(this IHostApplicationBuilder builder)
    {
        builder.AddNpgsqlDbContext<PlatformDbContext>(ConnectionName,
            configureDbContextOptions: options => options.UseSnakeCaseNamingConvention());
        return builder;
    }
}
