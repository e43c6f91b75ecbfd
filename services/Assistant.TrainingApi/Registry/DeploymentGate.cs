using System.Text.Json;
using Assistant.Platform.Jobs;
using Assistant.Platform.Models;
using Assistant.Platform.Persistence;
using Microsoft.EntityFrameworkCore;

namespace Assistant.TrainingApi.Registry;

/// <summary>
/// The outcome of the gate on one alias move: whether the candidate and the version the alias points at now were
/// compared, on which evaluation dataset, with what test loss each, and whether the move may go ahead.
/// </summary>
public sealed record GateResult(
    bool Gated, bool Compared, bool Passed, bool Forced, string Metric, string? Dataset, int? CurrentVersion, double? Current, double? Candidate, string Reason);

/// <summary>
/// Keeps a gated alias (<c>production</c>) from moving to a version that evaluates worse than the one it serves now.
/// Versions are compared only on the same evaluation data (same dataset bytes, by SHA-256), using each version's
/// latest succeeded evaluation there; a lower <c>test_loss</c> is better. When the two were never evaluated on the
/// same data there is nothing fair to compare, and the move goes ahead with the gate saying so.
/// </summary>
public sealed class DeploymentGate(PlatformDbContext db)
{
    public const string Metric = "test_loss";

    /// <summary>Aliases a worse version cannot reach without <c>force</c>.</summary>
    public static readonly IReadOnlySet<string> GatedAliases = new HashSet<string>(StringComparer.Ordinal) { ModelRegistry.ProductionAlias };

    public async Task<GateResult> CheckAsync(string model, string alias, int candidateVersion, bool force, CancellationToken ct)
    {
        if (!GatedAliases.Contains(alias))
        {
            return new GateResult(false, false, true, force, Metric, null, null, null, null, $"'{alias}' is not a gated alias.");
        }
        var current = await (
            from a in db.ModelAliases.AsNoTracking()
            join m in db.Models on a.ModelId equals m.Id
            join v in db.ModelVersions on a.VersionId equals v.Id
            where m.Name == model && a.Alias == alias
            select new { v.Id, v.Version }).SingleOrDefaultAsync(ct);
        if (current is null || current.Version == candidateVersion)
        {
            return new GateResult(true, false, true, force, Metric, null, current?.Version, null, null,
                current is null ? $"'{alias}' points at no version yet." : $"'{alias}' already points at version {candidateVersion}.");
        }
        var candidate = await db.ModelVersions.AsNoTracking()
            .Where(v => v.Model!.Name == model && v.Version == candidateVersion).Select(v => v.Id).SingleOrDefaultAsync(ct);

        var evaluations = await db.Evaluations.AsNoTracking()
            .Where(e => (e.ModelVersionId == candidate || e.ModelVersionId == current.Id) && e.Status == EvaluationStatus.Succeeded && e.Metrics != null)
            .OrderByDescending(e => e.CompletedAt)
            .Select(e => new { e.ModelVersionId, e.DatasetSha256, e.DatasetRef, e.Metrics, e.CompletedAt })
            .ToListAsync(ct);
        // The newest dataset both versions were evaluated on; each version's newest result there.
        var shared = evaluations
            .GroupBy(e => e.DatasetSha256)
            .Where(g => g.Any(e => e.ModelVersionId == candidate) && g.Any(e => e.ModelVersionId == current.Id))
            .Select(g => new
            {
                Dataset = g.First().DatasetRef,
                Candidate = TestLoss(g.First(e => e.ModelVersionId == candidate).Metrics!),
                Current = TestLoss(g.First(e => e.ModelVersionId == current.Id).Metrics!),
            })
            .FirstOrDefault(c => c.Candidate is not null && c.Current is not null);
        if (shared is null)
        {
            return new GateResult(true, false, true, force, Metric, null, current.Version, null, null,
                $"Version {candidateVersion} and version {current.Version} were never evaluated on the same data; nothing to compare.");
        }
        var better = shared.Candidate <= shared.Current;
        var reason = better
            ? $"{Metric} {shared.Candidate:F4} on {shared.Dataset} is no worse than version {current.Version}'s {shared.Current:F4}."
            : $"Version {candidateVersion}'s {Metric} {shared.Candidate:F4} on {shared.Dataset} is worse than version {current.Version}'s {shared.Current:F4} that '{alias}' serves now.";
        return new GateResult(true, true, better || force, force && !better, Metric, shared.Dataset, current.Version, shared.Current, shared.Candidate, reason);
    }

    private static double? TestLoss(string metrics)
    {
        using var json = JsonDocument.Parse(metrics);
        return json.RootElement.TryGetProperty(Metric, out var value) && value.ValueKind == JsonValueKind.Number ? value.GetDouble() : null;
    }
}
