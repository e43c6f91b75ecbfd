using System.Text.Json;
using Assistant.Platform.Persistence;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace Assistant.TrainingApi.Apis;

public sealed record JobEventDto(long Id, string Object, string Level, string Type, string Message, JsonElement? Data, DateTimeOffset CreatedAt);

public sealed record CheckpointDto(
    Guid Id, string Object, string FineTuningJobId, int StepNumber, JsonElement Metrics, string ObjectPrefix, bool IsBest,
    string FineTunedModelCheckpoint, DateTimeOffset CreatedAt);

public sealed record MetricSeriesDto(IReadOnlyList<int> Steps, IReadOnlyList<double?> Values);

public sealed record JobMetricsDto(string JobId, IReadOnlyDictionary<string, MetricSeriesDto> Series);

/// <summary>One metric of several jobs on shared steps: <c>series[job][i]</c> is the job's value at <c>steps[i]</c> (null where it has none).</summary>
public sealed record AlignedSeriesDto(IReadOnlyList<int> Steps, IReadOnlyDictionary<string, IReadOnlyList<double?>> Series);

public sealed record JobComparisonDto(
    IReadOnlyList<string> Jobs, IReadOnlyDictionary<string, IReadOnlyDictionary<string, JsonElement>> Hyperparameters,
    IReadOnlyDictionary<string, AlignedSeriesDto> Metrics);

/// <summary>What a job recorded as it ran, as workers wrote it: events, checkpoints, metric series, and comparisons of runs.</summary>
public static partial class JobsApi
{
    private static async Task<Ok<ListDto<JobEventDto>>> Events(string id, PlatformDbContext db, CancellationToken ct, string? limit = null, string? after = null)
    {
        await JobViews.FindAsync(db, id, ct);
        var pageSize = Query.Int(limit, "limit", fallback: 20, minimum: 1, maximum: 1000);
        var events = db.JobEvents.AsNoTracking().Where(e => e.JobId == id);
        if (after is not null)
        {
            var cursor = long.TryParse(after, out var eventId) ? eventId : throw ApiProblem.Invalid("after", "after is the id of the last event of the previous page.");
            events = events.Where(e => e.Id < cursor);
        }
        var page = await events.OrderByDescending(e => e.Id).Take(pageSize + 1).ToListAsync(ct);
        var dtos = page.Take(pageSize).Select(e => new JobEventDto(e.Id, "fine_tuning.job.event", e.Level, e.Type, e.Message,
            e.Data is null ? null : JobDto.Json(e.Data), e.CreatedAt)).ToList();
        return TypedResults.Ok(new ListDto<JobEventDto>(dtos, page.Count > pageSize));
    }

    private static async Task<Ok<ListDto<CheckpointDto>>> Checkpoints(string id, PlatformDbContext db, CancellationToken ct)
    {
        var job = await JobViews.FindAsync(db, id, ct);
        var checkpoints = await db.JobCheckpoints.AsNoTracking().Where(c => c.JobId == id).OrderByDescending(c => c.Step).ToListAsync(ct);
        var name = $"ft:{job.BaseModel}:{job.Suffix ?? ""}:{job.Id}";
        return TypedResults.Ok(new ListDto<CheckpointDto>(checkpoints.Select(c => new CheckpointDto(
            c.Id, "fine_tuning.job.checkpoint", id, c.Step, JobDto.Json(c.Metrics), c.ObjectPrefix, c.IsBest,
            $"{name}:ckpt-step-{c.Step}", c.CreatedAt)).ToList(), HasMore: false));
    }

    private static async Task<Ok<JobMetricsDto>> Metrics(string id, PlatformDbContext db, CancellationToken ct, string? keys = null, string? from_step = null)
    {
        await JobViews.FindAsync(db, id, ct);
        var selected = Query.List(keys);
        var fromStep = Query.Int(from_step, "from_step", fallback: 0, minimum: 0, maximum: int.MaxValue);
        var metrics = db.JobMetrics.AsNoTracking().Where(m => m.JobId == id && m.Step >= fromStep);
        if (selected.Length > 0)
        {
            metrics = metrics.Where(m => selected.Contains(m.Key));
        }
        var points = await metrics.OrderBy(m => m.Key).ThenBy(m => m.Step).Select(m => new { m.Key, m.Step, m.Value }).ToListAsync(ct);
        var series = points.GroupBy(p => p.Key).ToDictionary(g => g.Key,
            g => new MetricSeriesDto(g.Select(p => p.Step).ToList(), g.Select(p => Finite(p.Value)).ToList()));
        return TypedResults.Ok(new JobMetricsDto(id, series));
    }

    private static async Task<Ok<JobComparisonDto>> Compare(PlatformDbContext db, CancellationToken ct, string? ids = null, string? keys = null)
    {
        var jobIds = Query.List(ids).Distinct().ToList();
        if (jobIds.Count is < 2 or > 10)
        {
            throw ApiProblem.Invalid("ids", "Give 2 to 10 job ids to compare: ?ids=ftjob-a,ftjob-b.");
        }
        var jobs = await db.Jobs.AsNoTracking().Where(j => jobIds.Contains(j.Id)).ToDictionaryAsync(j => j.Id, ct);
        if (jobIds.FirstOrDefault(j => !jobs.ContainsKey(j)) is { } missing)
        {
            throw ApiProblem.NotFound("ids", $"Job '{missing}' was not found.");
        }

        // What was chosen per job: the config plus the choices outside it; only the keys where jobs differ are shown.
        var settings = jobIds.ToDictionary(id => id, id =>
        {
            var job = jobs[id];
            var values = JobDto.Json(job.Hyperparameters).EnumerateObject().ToDictionary(p => p.Name, p => p.Value);
            values["base_model"] = JsonSerializer.SerializeToElement(job.BaseModel);
            values["datasets"] = JobDto.Json(job.DatasetRefs);
            return values;
        });
        var differing = new SortedDictionary<string, IReadOnlyDictionary<string, JsonElement>>(StringComparer.Ordinal);
        foreach (var key in settings.Values.SelectMany(s => s.Keys).Distinct())
        {
            var byJob = jobIds.ToDictionary(id => id, id => settings[id].TryGetValue(key, out var value) ? value : NullElement);
            if (byJob.Values.Distinct(JsonElementComparer.Instance).Count() > 1)
            {
                differing[key] = byJob;
            }
        }

        var selected = Query.List(keys);
        var metrics = db.JobMetrics.AsNoTracking().Where(m => jobIds.Contains(m.JobId));
        if (selected.Length > 0)
        {
            metrics = metrics.Where(m => selected.Contains(m.Key));
        }
        var points = await metrics.Select(m => new { m.JobId, m.Key, m.Step, m.Value }).ToListAsync(ct);
        var aligned = new SortedDictionary<string, AlignedSeriesDto>(StringComparer.Ordinal);
        foreach (var byKey in points.GroupBy(p => p.Key))
        {
            var steps = byKey.Select(p => p.Step).Distinct().Order().ToList();
            var index = steps.Select((step, i) => (step, i)).ToDictionary(x => x.step, x => x.i);
            var values = jobIds.ToDictionary(id => id, _ => new double?[steps.Count]);
            foreach (var p in byKey)
            {
                values[p.JobId][index[p.Step]] = Finite(p.Value);
            }
            aligned[byKey.Key] = new AlignedSeriesDto(steps, values.ToDictionary(v => v.Key, v => (IReadOnlyList<double?>)v.Value));
        }
        return TypedResults.Ok(new JobComparisonDto(jobIds, differing, aligned));
    }

    private static readonly JsonElement NullElement = JsonSerializer.SerializeToElement<object?>(null);

    /// <summary>JSON has no NaN or infinity: a diverged value is a gap in the series.</summary>
    private static double? Finite(double value) => double.IsFinite(value) ? value : null;

    private sealed class JsonElementComparer : IEqualityComparer<JsonElement>
    {
        public static JsonElementComparer Instance { get; } = new();
        public bool Equals(JsonElement x, JsonElement y) => JsonElement.DeepEquals(x, y);
        public int GetHashCode(JsonElement obj) => obj.ValueKind.GetHashCode();
    }
}
