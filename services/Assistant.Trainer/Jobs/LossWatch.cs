using System.Globalization;

namespace Assistant.Trainer.Jobs;

/// <summary>
/// The alert rules on a run's losses: a train_loss spike (above <see cref="SpikeFactor"/> times the median
/// of the last <see cref="Window"/> logged steps) and valid_loss rising for <c>patience</c> evaluations in a row.
/// Each returns the alert message when its rule fires, else null.
/// </summary>
public sealed class LossWatch(int patience)
{
    public const int Window = 20;
    public const double SpikeFactor = 3;
    /// <summary>Fewer steps than this are no baseline (the first steps of a run move fast).</summary>
    public const int MinimumHistory = 5;

    private readonly Queue<double> _recent = new();
    private double? _lastValidLoss;
    private int _rises;

    public int Patience { get; } = Math.Max(1, patience);

    public string? ObserveTrainLoss(int step, double loss)
    {
        if (!double.IsFinite(loss)) return null; // NaN has its own rule (the run stops on it)
        string? alert = null;
        if (_recent.Count >= MinimumHistory)
        {
            var median = Median(_recent);
            if (median > 0 && loss > SpikeFactor * median)
                alert = Invariant($"train_loss spiked to {loss:G4} at step {step}, {loss / median:F1}x the median {median:G4} of the last {_recent.Count} steps.");
        }
        _recent.Enqueue(loss);
        if (_recent.Count > Window) _recent.Dequeue();
        return alert;
    }

    public string? ObserveValidLoss(int step, double loss)
    {
        if (!double.IsFinite(loss)) return null;
        _rises = _lastValidLoss is { } last && loss > last ? _rises + 1 : 0;
        _lastValidLoss = loss;
        return _rises == Patience
            ? Invariant($"valid_loss rose for {_rises} evaluations in a row, to {loss:G4} at step {step}: the model may be overfitting.")
            : null;
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        var middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
