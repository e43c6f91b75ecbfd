using Assistant.Platform.Security;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Assistant.TrainingApi.Apis;

public static class HealthApi
{
    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/health", GetHealth)
            .WithName("GetPlatformHealth")
            .WithSummary("State of the training API and each dependency it needs (Postgres, Redis, S3) and of the trainer workers.")
            .WithTags("Health")
            // Anyone may ask whether the platform is up (the web app's status page, load balancers).
            .AllowWithoutKey();
        return app;
    }

    /// <summary>200 when every dependency answers, 503 with the same body when one does not.</summary>
    private static async Task<Results<Ok<PlatformHealthReport>, JsonHttpResult<PlatformHealthReport>>> GetHealth(
        PlatformHealth health, CancellationToken ct)
    {
        var report = await health.CheckAsync(ct);
        return report.Status == DependencyState.Ok
            ? TypedResults.Ok(report)
            : TypedResults.Json(report, statusCode: StatusCodes.Status503ServiceUnavailable);
    }
}
