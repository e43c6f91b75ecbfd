using System.Text.Json;
using Assistant.Platform.Jobs;
using Assistant.Platform.Persistence;
using Assistant.Platform.Workers;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Assistant.TrainingApi.Apis;

public sealed class JobStreamOptions
{
    /// <summary>A comment line this often keeps proxies from closing a quiet stream.</summary>
    public TimeSpan KeepAlive { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// How often the job's status is read from Postgres as well: pub/sub drops messages while a
    /// subscriber reconnects, and Postgres is the record.
    /// </summary>
    public TimeSpan StatusPoll { get; set; } = TimeSpan.FromSeconds(3);
}

/// <summary>
/// <c>GET /api/jobs/{id}/stream</c>: server-sent events. First a <c>status</c> event with the job as it is, then every
/// <see cref="LiveUpdate"/> published on <see cref="RedisKeys.JobLive"/> as <c>event: &lt;type&gt;</c> + <c>data: &lt;json&gt;</c>,
/// until the job finishes. Relayed events carry the LiveUpdate (<c>type</c>, <c>job_id</c>, <c>data</c>, <c>at</c>); the API's own
/// <c>status</c> events carry the whole job (as <c>GET /api/jobs/{id}</c>): the first one, one whenever the status read from
/// Postgres changed, and the last one, which replaces the terminal status notice so that followers see the error or result model.
/// </summary>
public static class JobStream
{
    public static async Task<EmptyHttpResult> StreamAsync(
        string id, HttpContext http, PlatformDbContext db, IConnectionMultiplexer redis, IOptions<JobStreamOptions> options, ILoggerFactory loggers)
    {
        var ct = http.RequestAborted;
        await JobViews.FindAsync(db, id, ct); // 404 before the stream starts

        // Subscribe before reading the snapshot, so nothing published in between is lost.
        var subscriber = redis.GetSubscriber();
        var channel = RedisChannel.Literal(RedisKeys.JobLive(id));
        var updates = await subscriber.SubscribeAsync(channel);
        try
        {
            var response = http.Response;
            response.ContentType = "text/event-stream";
            response.Headers.CacheControl = "no-cache";
            response.Headers["X-Accel-Buffering"] = "no";

            var status = await WriteSnapshotAsync(response, db, id, ct);
            var nextKeepAlive = DateTimeOffset.UtcNow + options.Value.KeepAlive;
            var nextPoll = DateTimeOffset.UtcNow + options.Value.StatusPoll;
            while (!JobStatus.IsFinished(status))
            {
                var now = DateTimeOffset.UtcNow;
                var wait = (nextKeepAlive < nextPoll ? nextKeepAlive : nextPoll) - now;
                if (await NextAsync(updates, wait, ct) is { } message)
                {
                    var update = Parse(message);
                    if (update is { Type: LiveUpdate.Status } && StatusOf(update) is { } published && JobStatus.IsFinished(published))
                    {
                        // The end: the job as stored (error, result model) says more than the bare notice.
                        status = await WriteSnapshotAsync(response, db, id, ct);
                        continue;
                    }
                    await WriteEventAsync(response, update?.Type ?? "message", message, ct);
                    continue;
                }
                now = DateTimeOffset.UtcNow;
                if (now >= nextPoll)
                {
                    nextPoll = now + options.Value.StatusPoll;
                    var polled = await db.Jobs.AsNoTracking().Where(j => j.Id == id).Select(j => j.Status).FirstOrDefaultAsync(ct);
                    if (polled is null)
                    {
                        break; // deleted while followed
                    }
                    if (polled != status)
                    {
                        status = await WriteSnapshotAsync(response, db, id, ct);
                    }
                }
                if (now >= nextKeepAlive)
                {
                    nextKeepAlive = now + options.Value.KeepAlive;
                    await response.WriteAsync(": keep-alive\n\n", ct);
                    await response.Body.FlushAsync(ct);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The client went away.
        }
        catch (Exception ex) when (ex is not OperationCanceledException && http.Response.HasStarted)
        {
            // Too late for a problem response: end the stream; the client reconnects and gets the job's state first.
            loggers.CreateLogger(typeof(JobStream)).LogWarning(ex, "Live stream of job {JobId} ended early", id);
        }
        finally
        {
            await updates.UnsubscribeAsync();
        }
        return TypedResults.Empty; // the body is written
    }

    /// <summary>Writes the job as it is now as a status event; returns its status.</summary>
    private static async Task<string> WriteSnapshotAsync(HttpResponse response, PlatformDbContext db, string id, CancellationToken ct)
    {
        var job = await JobViews.ToDtoAsync(db, await JobViews.FindAsync(db, id, ct), ct);
        await WriteEventAsync(response, LiveUpdate.Status, JsonSerializer.Serialize(job, LiveUpdate.JsonOptions), ct);
        return job.Status;
    }

    /// <summary>The next published message, or null when <paramref name="wait"/> passes first.</summary>
    private static async Task<string?> NextAsync(ChannelMessageQueue updates, TimeSpan wait, CancellationToken ct)
    {
        if (wait <= TimeSpan.Zero)
        {
            return null;
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(wait);
        try
        {
            return (await updates.ReadAsync(timeout.Token)).Message.ToString();
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return null;
        }
    }

    private static async Task WriteEventAsync(HttpResponse response, string type, string json, CancellationToken ct)
    {
        // An SSE data field ends at a newline: a multi-line payload is sent as several data lines.
        var data = string.Join("\n", json.Split('\n').Select(line => "data: " + line.TrimEnd('\r')));
        await response.WriteAsync($"event: {type}\n{data}\n\n", ct);
        await response.Body.FlushAsync(ct);
    }

    private static LiveUpdate? Parse(string message)
    {
        try
        {
            return LiveUpdate.FromJson(message);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string? StatusOf(LiveUpdate update) =>
        update.Data.ValueKind == JsonValueKind.Object && update.Data.TryGetProperty("status", out var status) && status.ValueKind == JsonValueKind.String
            ? status.GetString()
            : null;
}
