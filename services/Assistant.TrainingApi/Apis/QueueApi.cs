using Assistant.Platform.Jobs;
using Assistant.Platform.Persistence;
using Assistant.Platform.Security;
using Assistant.Platform.Workers;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using StackExchange.Redis;

namespace Assistant.TrainingApi.Apis;

public sealed record QueueDto(bool Paused, string? PausedBy, string? Reason, DateTimeOffset? PausedSince, int Queued, int Running, long? StreamLength);

public sealed record PauseRequest(string? Reason);

/// <summary>
/// <c>/api/queue</c>: the dispatch of queued jobs to workers, which an operator can pause (maintenance, an upgrade,
/// draining the cluster) and resume. Running jobs are never interrupted; queued ones wait.
/// </summary>
public static class QueueApi
{
    public static IEndpointRouteBuilder MapQueueApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/queue").WithTags("Queue").AddEndpointFilter<ApiProblems>();
        api.MapGet("/", Get).WithName("GetQueue").RequireScope(ApiScopes.Read)
            .WithSummary("Whether dispatch is paused, and how many jobs are queued and running.");
        api.MapPost("/pause", Pause).WithName("PauseQueue").RequireScope(ApiScopes.Admin)
            .WithSummary("Stop dispatching jobs ({reason}): running jobs go on, queued jobs wait, new jobs queue.");
        api.MapPost("/resume", Resume).WithName("ResumeQueue").RequireScope(ApiScopes.Admin)
            .WithSummary("Dispatch queued jobs again.");
        return app;
    }

    private static async Task<Ok<QueueDto>> Get(PlatformDbContext db, IConnectionMultiplexer redis, CancellationToken ct) =>
        TypedResults.Ok(await DescribeAsync(db, redis, ct));

    private static async Task<Ok<QueueDto>> Pause(HttpContext http, PlatformDbContext db, IConnectionMultiplexer redis, CancellationToken ct, PauseRequest? body = null)
    {
        if (body?.Reason is { Length: > 2000 })
        {
            throw ApiProblem.Invalid("reason", "The reason is longer than 2000 characters.");
        }
        await JobQueue.PauseAsync(db, Caller.Of(http), body?.Reason, ct);
        return TypedResults.Ok(await DescribeAsync(db, redis, ct));
    }

    private static async Task<Ok<QueueDto>> Resume(PlatformDbContext db, JobQueue queue, IConnectionMultiplexer redis, CancellationToken ct)
    {
        await queue.ResumeAsync(db, ct);
        return TypedResults.Ok(await DescribeAsync(db, redis, ct));
    }

    private static async Task<QueueDto> DescribeAsync(PlatformDbContext db, IConnectionMultiplexer redis, CancellationToken ct)
    {
        var pause = await JobQueue.GetPauseAsync(db, ct);
        var queued = await db.Jobs.CountAsync(j => j.Status == JobStatus.Queued, ct);
        var running = await db.Jobs.CountAsync(j => j.Status == JobStatus.Running, ct);
        long? length = null;
        try
        {
            length = await redis.GetDatabase().StreamLengthAsync(RedisKeys.JobStream);
        }
        catch (RedisException)
        {
            // The stream is a courtesy figure; Postgres holds the queue.
        }
        return new QueueDto(pause is not null, pause?.PausedBy, pause?.Reason, pause?.Since, queued, running, length);
    }
}
