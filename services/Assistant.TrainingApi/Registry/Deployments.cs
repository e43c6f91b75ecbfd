using System.Text.Json;
using Assistant.Platform.Models;
using StackExchange.Redis;

namespace Assistant.TrainingApi.Registry;

/// <summary>
/// Moving an alias is deploying: the gate may refuse it, the registry records it, and inference replicas are told
/// at once on <see cref="Channel"/> (<c>{model, alias, version}</c>, version null when the alias was removed). The
/// alias in Postgres is the record; a replica that missed a message finds the alias there when it next resolves it.
/// </summary>
public sealed class Deployments(ModelRegistry registry, DeploymentGate gate, IConnectionMultiplexer redis, ILogger<Deployments> logger)
{
    public const string Channel = Assistant.Platform.Workers.RedisKeys.Deployments;
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>Points <paramref name="alias"/> at <paramref name="version"/> unless the gate refuses (409 naming <c>version</c>).</summary>
    public async Task<(AliasMove Move, GateResult Gate)> MoveAsync(
        string model, string alias, int version, string caller, string? reason, bool force, CancellationToken ct)
    {
        var check = await gate.CheckAsync(model, alias, version, force, ct);
        if (!check.Passed)
        {
            throw Apis.ApiProblem.Conflict("version", $"{check.Reason} Deploy with force to move '{alias}' anyway.");
        }
        if (check.Forced)
        {
            reason = $"{reason ?? "forced"} (gate overridden: {check.Reason})";
        }
        var move = await registry.MoveAliasAsync(model, alias, version, caller, reason, ct);
        await AnnounceAsync(model, alias, version, ct);
        logger.LogInformation("{Model}:{Alias} moved from {From} to {To} by {Caller}", model, alias, move.FromVersion, version, caller);
        return (move, check);
    }

    public async Task<AliasMove> RemoveAsync(string model, string alias, string caller, string? reason, CancellationToken ct)
    {
        var move = await registry.RemoveAliasAsync(model, alias, caller, reason, ct);
        await AnnounceAsync(model, alias, null, ct);
        return move;
    }

    private async Task AnnounceAsync(string model, string alias, int? version, CancellationToken ct)
    {
        try
        {
            await redis.GetSubscriber().PublishAsync(RedisChannel.Literal(Channel), JsonSerializer.Serialize(new { model, alias, version }, Json));
        }
        catch (RedisException ex)
        {
            // The move is stored; replicas pick it up when they next resolve the alias.
            logger.LogWarning(ex, "Could not announce {Model}:{Alias} -> {Version} to inference replicas", model, alias, version);
        }
    }
}
