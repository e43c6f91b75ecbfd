namespace Assistant.Modeling;

/// <summary>
/// Pinned float arrays kept from one <see cref="LlamaDecoder"/> for the next. A K/V cache freshly taken from the OS
/// page-faults on first touch: a new generation's decode steps then paid ~0.18 ms of a 2.2 ms batch-of-8 step (and the
/// same per token alone) writing keys and values into untouched pages. Bounded: past <see cref="Capacity"/> the oldest
/// arrays are let go to the GC, and a decoder that is never disposed simply leaves its arrays to the GC too.
/// </summary>
internal static class PinnedFloatPool
{
    /// <summary>Floats kept at most (256 MiB): a batch-of-8 decoder of the small preset over 1,024 positions takes ~50 MiB.</summary>
    internal const long Capacity = 64L << 20;

    static readonly Lock Gate = new();
    static readonly List<float[]> Free = []; // oldest first
    static long pooled;

    /// <summary>Floats held by the pool now (for tests).</summary>
    internal static long Pooled
    {
        get { lock (Gate) return pooled; }
    }

    /// <summary>
    /// A zeroed pinned array of at least <paramref name="length"/> floats: the smallest free one that is no more than twice as
    /// long (a short request does not take a long cache), else a new one.
    /// </summary>
    public static float[] Rent(int length)
    {
        float[]? found = null;
        lock (Gate)
        {
            var best = -1;
            for (var i = 0; i < Free.Count; i++)
                if (Free[i].Length >= length && Free[i].Length <= 2L * length && (best < 0 || Free[i].Length < Free[best].Length)) best = i;
            if (best >= 0)
            {
                found = Free[best];
                Free.RemoveAt(best);
                pooled -= found.Length;
            }
        }
        if (found is null) return GC.AllocateArray<float>(length, pinned: true);
        Array.Clear(found); // resident pages: a memset, not page faults
        return found;
    }

    /// <summary>Keeps <paramref name="array"/> for a later <see cref="Rent"/>; the caller must not touch it again.</summary>
    public static void Return(float[] array)
    {
        if (array.Length > Capacity) return;
        lock (Gate)
        {
            while (pooled + array.Length > Capacity)
            {
                pooled -= Free[0].Length;
                Free.RemoveAt(0);
            }
            Free.Add(array);
            pooled += array.Length;
        }
    }
}
