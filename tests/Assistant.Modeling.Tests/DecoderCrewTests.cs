namespace Assistant.Modeling.Tests;

/// <summary>The helper threads that split a decode pass's regions: every index runs once, errors and contention included.</summary>
public class DecoderCrewTests
{
    [Fact]
    public void Every_index_of_every_region_runs_exactly_once_across_sleeps_and_smaller_regions()
    {
        var crew = DecoderCrew.For(2);
        for (var region = 0; region < 2000; region++)
        {
            var count = region % 3 == 0 ? 1 : 2;
            var runs = new int[2];
            crew.Run(count, i => Interlocked.Increment(ref runs[i]));
            Assert.Equal(count == 2 ? new[] { 1, 1 } : new[] { 1, 0 }, runs);
            if (region % 500 == 0) Thread.Sleep(10); // long enough for the helper to stop spinning and sleep
        }
    }

    [Fact]
    public void A_helpers_exception_reaches_the_caller_and_the_crew_keeps_working()
    {
        var crew = DecoderCrew.For(2);
        var thrown = Assert.Throws<AggregateException>(() => crew.Run(2, i => { if (i == 1) throw new InvalidOperationException("helper failed"); }));
        Assert.Equal("helper failed", thrown.InnerException!.Message);
        var runs = new int[2];
        crew.Run(2, i => Interlocked.Increment(ref runs[i]));
        Assert.Equal(new[] { 1, 1 }, runs);
    }

    [Fact]
    public void Callers_at_the_same_moment_each_get_all_their_indices_run()
    {
        var crew = DecoderCrew.For(2);
        var totals = new long[4];
        Parallel.For(0, 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, caller =>
        {
            for (var region = 0; region < 500; region++)
            {
                var sum = 0L;
                crew.Run(2, i => Interlocked.Add(ref sum, i + 1)); // a busy crew runs the region on the caller
                Interlocked.Add(ref totals[caller], sum);
            }
        });
        Assert.All(totals, total => Assert.Equal(500 * 3, total));
    }
}
