namespace Assistant.Modeling;

/// <summary>
/// Helper threads that split one decode pass's parallel regions with the calling thread. A decode step has ~30 of them
/// (each matrix product, attention), a few to a hundred microseconds each; Parallel.For measured ~25-35 µs of overhead a
/// call here (waking pool threads), more than a small region is worth. The helpers spin briefly between regions, so the
/// next one starts within a microsecond, then sleep until woken. One crew serves the process: a caller that finds it busy
/// (another model's engine decoding at the same moment) runs its region alone rather than wait.
/// </summary>
internal sealed class DecoderCrew
{
    /// <summary>How long an idle helper spins for the next region before it sleeps (2 ms, in timestamp ticks).</summary>
    static readonly long SpinFor = System.Diagnostics.Stopwatch.Frequency / 500;

    static readonly Lock Gate = new();
    static DecoderCrew? shared;

    readonly Helper[] helpers;
    readonly Lock busy = new();
    Action<int> body = _ => { };
    int members;    // of the current region, this thread included: helpers 1..members-1 take part
    int generation; // a new region: helpers watch it
    int pending;    // helpers still working on the current region
    Exception? failure; // a helper's, thrown on the calling thread

    DecoderCrew(int size)
    {
        helpers = new Helper[size - 1];
        for (var i = 0; i < helpers.Length; i++) helpers[i] = new Helper(this, i + 1);
    }

    /// <summary>Members, the calling thread included.</summary>
    public int Size => helpers.Length + 1;

    /// <summary>The process's crew for <paramref name="size"/> threads (made, or grown, on first use).</summary>
    public static DecoderCrew For(int size)
    {
        lock (Gate)
        {
            if (shared is null || shared.Size < size) shared = new DecoderCrew(size); // a smaller old crew's helpers sleep on
            return shared;
        }
    }

    /// <summary>
    /// body(0..<paramref name="count"/>-1), index 0 on this thread and the rest on helpers, returning when all are done;
    /// all on this thread when the crew is busy with another caller's region.
    /// </summary>
    public void Run(int count, Action<int> work)
    {
        if (count == 1 || count > Size || !busy.TryEnter())
        {
            for (var i = 0; i < count; i++) work(i);
            return;
        }
        try
        {
            body = work;
            members = count;
            Volatile.Write(ref pending, count - 1);
            Interlocked.Increment(ref generation); // publishes body and pending to the helpers
            for (var i = 0; i < count - 1; i++) helpers[i].Wake();
            try
            {
                work(0);
            }
            finally
            {
                // The helpers finish this region before the next may replace what they run.
                var spin = new SpinWait();
                while (Volatile.Read(ref pending) > 0) spin.SpinOnce(sleep1Threshold: -1);
            }
            if (Interlocked.Exchange(ref failure, null) is { } thrown) throw new AggregateException(thrown);
        }
        finally
        {
            busy.Exit();
        }
    }

    /// <summary>One helper thread: waits for a region that includes its index, runs it, reports done.</summary>
    sealed class Helper
    {
        readonly DecoderCrew crew;
        readonly int index;
        readonly SemaphoreSlim wakeUp = new(0);
        int sleeping;

        public Helper(DecoderCrew crew, int index)
        {
            (this.crew, this.index) = (crew, index);
            new Thread(Loop) { IsBackground = true, Name = $"decoder-crew-{index}" }.Start();
        }

        public void Wake()
        {
            if (Interlocked.Exchange(ref sleeping, 0) == 1) wakeUp.Release();
        }

        void Loop()
        {
            var seen = Volatile.Read(ref crew.generation);
            while (true)
            {
                // Spin for the next region; then sleep, looking once more after saying so (Wake sees the flag or we see the region).
                var idleSince = System.Diagnostics.Stopwatch.GetTimestamp(); // no allocation: this runs ~30 times a decode step
                var spin = new SpinWait();
                while (Volatile.Read(ref crew.generation) == seen)
                {
                    if (System.Diagnostics.Stopwatch.GetTimestamp() - idleSince < SpinFor)
                    {
                        spin.SpinOnce(sleep1Threshold: -1);
                        continue;
                    }
                    Interlocked.Exchange(ref sleeping, 1);
                    if (Volatile.Read(ref crew.generation) == seen) wakeUp.Wait();
                    Interlocked.Exchange(ref sleeping, 0);
                    idleSince = System.Diagnostics.Stopwatch.GetTimestamp();
                }
                seen = Volatile.Read(ref crew.generation); // body and members were written before it moved
                if (index >= crew.members) continue; // a region of fewer members leaves this helper out
                try
                {
                    crew.body(index);
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref crew.failure, e, null);
                }
                finally
                {
                    Interlocked.Decrement(ref crew.pending);
                }
            }
        }
    }
}
