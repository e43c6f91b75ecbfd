using Assistant.Trainer.Jobs;

namespace Assistant.Trainer.Tests;

public sealed class LossWatchTests
{
    [Fact]
    public void A_train_loss_above_three_times_the_recent_median_is_a_spike()
    {
        var watch = new LossWatch(patience: 3);
        for (var step = 1; step <= 10; step++) Assert.Null(watch.ObserveTrainLoss(step, 2.0 + step % 2 * 0.1));
        Assert.Null(watch.ObserveTrainLoss(11, 5.9)); // under 3x the median of 2.0-2.1
        var alert = watch.ObserveTrainLoss(12, 7.0);
        Assert.NotNull(alert);
        Assert.Contains("step 12", alert);
    }

    [Fact]
    public void The_first_steps_are_no_baseline_and_nan_is_left_to_its_own_rule()
    {
        var watch = new LossWatch(patience: 3);
        Assert.Null(watch.ObserveTrainLoss(1, 1.0));
        Assert.Null(watch.ObserveTrainLoss(2, 10.0)); // fewer than five steps seen
        Assert.Null(watch.ObserveTrainLoss(3, double.NaN));
    }

    [Fact]
    public void Valid_loss_rising_for_patience_evaluations_in_a_row_fires_once()
    {
        var watch = new LossWatch(patience: 2);
        Assert.Null(watch.ObserveValidLoss(10, 3.0));
        Assert.Null(watch.ObserveValidLoss(20, 3.1));
        Assert.NotNull(watch.ObserveValidLoss(30, 3.2));
        Assert.Null(watch.ObserveValidLoss(40, 3.3)); // already reported
        Assert.Null(watch.ObserveValidLoss(50, 2.0)); // improved: the count starts over
        Assert.Null(watch.ObserveValidLoss(60, 2.1));
        Assert.NotNull(watch.ObserveValidLoss(70, 2.2));
    }
}
