using System.Text.Json;
using System.Text.Json.Nodes;
using Assistant.Platform.Jobs;
using Assistant.Platform.Persistence;
using Assistant.Platform.Security;
using Assistant.TrainingApi.Jobs;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace Assistant.TrainingApi.Apis;

public sealed record SweepDto(
    Guid Id, string Object, string? Name, string Search, JsonElement Parameters, int? MaxTrials, long Seed, string Objective, IReadOnlyList<JobDto> Jobs,
    string? BestJobId, double? BestValidLoss, string CreatedBy, DateTimeOffset CreatedAt);

/// <summary>
/// Hyperparameter sweeps under <c>/api/sweeps</c>: a job body plus <c>search</c> (grid or random), <c>parameters</c> and
/// <c>max_trials</c> becomes a group of jobs, each validated like a single job; one invalid trial stores nothing.
/// </summary>
public static class SweepsApi
{
    private static readonly HashSet<string> SweepKeys = ["search", "parameters", "max_trials", "name"];

    public static IEndpointRouteBuilder MapSweepsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/sweeps").WithTags("Sweeps").AddEndpointFilter<ApiProblems>();
        api.MapPost("/", Create).WithName("CreateSweep").RequireScope(ApiScopes.Train)
            .WithSummary("Create a sweep: a job body plus search (grid|random), parameters {name: [values] | {min, max, log}} and max_trials.")
            .Produces<SweepDto>(StatusCodes.Status201Created).ProducesValidationProblem();
        api.MapGet("/{id:guid}", Get).WithName("GetSweep").RequireScope(ApiScopes.Read)
            .WithSummary("A sweep, its jobs, and the succeeded job with the lowest valid_loss.");
        return app;
    }

    private static async Task<Created<SweepDto>> Create(HttpContext http, JobPlanner planner, JobSubmitter submitter, PlatformDbContext db, CancellationToken ct)
    {
        var body = await RequestBody.ReadObjectAsync(http.Request, ct);
        var search = body["search"] is { } s && s.GetValueKind() == JsonValueKind.String ? s.GetValue<string>() : body["search"] is null ? SweepSpace.Grid : null;
        if (search is not (SweepSpace.Grid or SweepSpace.Random))
        {
            throw ApiProblem.Invalid("search", "search must be grid or random.");
        }
        if (body["parameters"] is not JsonObject parameters)
        {
            throw ApiProblem.Invalid("parameters", "parameters must be an object: {\"learning_rate\": [1e-4, 3e-4]} (grid) or {\"learning_rate\": {\"min\": 1e-5, \"max\": 1e-3, \"log\": true}} (random).");
        }
        int? maxTrials = null;
        if (body["max_trials"] is { } limit)
        {
            maxTrials = limit.GetValueKind() == JsonValueKind.Number && limit.AsValue().TryGetValue<int>(out var n) && n is >= 1 and <= SweepSpace.MostTrials
                ? n : throw ApiProblem.Invalid("max_trials", $"max_trials must be a whole number from 1 to {SweepSpace.MostTrials}.");
        }
        var name = body["name"] is { } named
            ? named.GetValueKind() == JsonValueKind.String && named.GetValue<string>() is { Length: > 0 and <= 128 } text ? text : throw ApiProblem.Invalid("name", "name must be 1 to 128 characters.")
            : null;

        var request = JobRequest.Parse(body, ignored: SweepKeys);
        // One seed for every trial, so the trials differ only in what is swept.
        var seed = request.Seed
            ?? (request.Hyperparameters.GetValueOrDefault("seed") is JsonValue given && given.TryGetValue<long>(out var inner) ? inner : Random.Shared.Next());
        request = request with { Seed = seed };
        var trials = SweepSpace.Expand(search, parameters, maxTrials, seed);
        var requests = trials.Select(trial =>
        {
            var values = new Dictionary<string, JsonNode?>(request.Hyperparameters);
            var fields = new Dictionary<string, string>(request.HyperparameterFields);
            foreach (var (key, value) in trial)
            {
                if (request.Hyperparameters.ContainsKey(key))
                {
                    throw ApiProblem.Invalid($"parameters.{key}", $"{key} is swept and also fixed in the job body; send it in one place.");
                }
                values[key] = value;
                fields[key] = $"parameters.{key}";
            }
            return request with { Hyperparameters = values, HyperparameterFields = fields };
        }).ToList();

        var group = new JobGroup
        {
            Id = Guid.NewGuid(),
            Name = name,
            Search = search,
            Space = parameters.ToJsonString(),
            MaxTrials = maxTrials,
            Seed = seed,
            CreatedBy = Caller.Of(http),
            CreatedAt = DateTimeOffset.UtcNow,
        };
        var planned = await planner.PlanAsync(requests, group.CreatedBy, group.Id, ct);
        await submitter.SubmitAsync(planned, group, ct);
        return TypedResults.Created($"/api/sweeps/{group.Id}", await ToDtoAsync(db, group.Id, ct));
    }

    private static async Task<Ok<SweepDto>> Get(Guid id, PlatformDbContext db, CancellationToken ct) => TypedResults.Ok(await ToDtoAsync(db, id, ct));

    private static async Task<SweepDto> ToDtoAsync(PlatformDbContext db, Guid id, CancellationToken ct)
    {
        var group = await db.JobGroups.AsNoTracking().FirstOrDefaultAsync(g => g.Id == id, ct)
            ?? throw ApiProblem.NotFound("id", $"Sweep {id} was not found.");
        var jobs = await db.Jobs.AsNoTracking().Where(j => j.GroupId == id).OrderBy(j => j.CreatedAt).ThenBy(j => j.Id).ToListAsync(ct);

        // The best is judged on the lowest valid_loss a succeeded job reached (its series), else its latest value.
        var succeeded = jobs.Where(j => j.Status == JobStatus.Succeeded).Select(j => j.Id).ToList();
        var lowest = await db.JobMetrics.AsNoTracking().Where(m => succeeded.Contains(m.JobId) && m.Key == group.Objective)
            .GroupBy(m => m.JobId).Select(g => new { JobId = g.Key, Value = g.Min(m => m.Value) }).ToDictionaryAsync(x => x.JobId, x => x.Value, ct);
        var best = jobs.Where(j => j.Status == JobStatus.Succeeded)
            .Select(j => (j.Id, Loss: lowest.TryGetValue(j.Id, out var v) ? v : LatestOf(j.Metrics, group.Objective)))
            .Where(x => x.Loss is { } loss && double.IsFinite(loss))
            .OrderBy(x => x.Loss).FirstOrDefault();
        return new SweepDto(group.Id, "sweep", group.Name, group.Search, JobDto.Json(group.Space), group.MaxTrials, group.Seed, group.Objective,
            await JobViews.ToDtosAsync(db, jobs, ct), best.Id, best.Loss, group.CreatedBy, group.CreatedAt);
    }

    private static double? LatestOf(string metrics, string key)
    {
        var json = JobDto.Json(metrics);
        return json.ValueKind == JsonValueKind.Object && json.TryGetProperty(key, out var value) && value.TryGetDouble(out var number) ? number : null;
    }
}
