using System.Diagnostics;
using System.Text;
using System.Threading.Channels;
using Assistant.Modeling;
using Assistant.Tokenization;
using TorchSharp;

namespace Assistant.Inference.Serving;

/// <summary>
/// Continuous batching for one loaded model. A decode loop on its own thread holds up to MaxBatch requests in slots; each
/// step feeds every slot's last token at once (<see cref="SlotDecoder"/>). Between steps, waiting requests take free slots
/// (their prompt is prefilled there) and finished or cancelled ones leave, so a short request never waits for a long one.
/// Each request samples with its own <see cref="TokenSampler"/> and turns tokens into text with its own
/// <see cref="GeneratedText"/>: its output is what <see cref="TextGenerator"/> gives it alone.
/// </summary>
internal sealed class BatchEngine : IDisposable
{
    readonly LoadedModel model;
    readonly SlotDecoder decoder;
    readonly InferenceTelemetry telemetry;
    readonly ILogger logger;
    readonly string name;
    readonly KeyValuePair<string, object?>[] tags;
    readonly int queueLimit;
    readonly TorchSharp.torch.Device device;
    readonly Generation?[] slots;
    readonly long[] stepTokens;
    readonly bool[] stepActive;
    readonly object gate = new();
    readonly LinkedList<Generation> waiting = new(); // under gate
    readonly Thread loop;
    int running;         // slots taken; changed under gate
    bool stopping;       // under gate
    int disposed;
    double secondsPerRequest = 1; // a moving average of request times, for Retry-After

    public BatchEngine(LoadedModel model, string name, KeyValuePair<string, object?>[] tags, int maxBatch, int queueLimit, InferenceTelemetry telemetry, ILogger logger)
    {
        (this.model, this.name, this.tags, this.queueLimit, this.telemetry, this.logger) = (model, name, tags, queueLimit, telemetry, logger);
        ContextLength = model.Model.Config.MaxPositions;
        decoder = SlotDecoder.Create(model.Model, maxBatch, ContextLength);
        device = model.Model.parameters().First().device;
        slots = new Generation?[maxBatch];
        stepTokens = new long[maxBatch];
        stepActive = new bool[maxBatch];
        loop = new Thread(Run) { IsBackground = true, Name = $"decode {name}" };
        loop.Start();
    }

    /// <summary>Tokens a prompt plus its reply may take.</summary>
    public int ContextLength { get; }
    public int Slots => slots.Length;
    /// <summary>True when a step decodes all slots in one pass (Llama); false for the one-by-one fallback.</summary>
    public bool IsBatched => decoder.IsBatched;
    public int Running => Volatile.Read(ref running);
    public int Waiting
    {
        get { lock (gate) return waiting.Count; }
    }

    /// <summary>When a refused client should try again: the queue ahead of it divided over the slots, at least a second.</summary>
    public int RetryAfterSeconds => (int)Math.Clamp(Math.Ceiling(Volatile.Read(ref secondsPerRequest) * (Waiting + 1) / Slots), 1, 60);

    /// <summary>
    /// Queues <paramref name="plan"/>; null when every slot is busy and the queue is full (the caller refuses at once).
    /// Its reply is capped to the room the context leaves. <paramref name="cancellationToken"/> (the client's) takes it out
    /// of the queue, or out of its slot at the next step.
    /// </summary>
    /// <exception cref="ArgumentException">The prompt is empty or leaves no room in the context, or the sampling options are out of range.</exception>
    public GenerationStream? TrySubmit(PreparedGeneration plan, CancellationToken cancellationToken, bool quiet = false)
    {
        if (plan.PromptIds.Count == 0) throw new ArgumentException("The prompt is empty.", "prompt");
        if (plan.PromptIds.Count >= ContextLength)
            throw new ArgumentException($"The prompt has {plan.PromptIds.Count} tokens, and the model's context holds {ContextLength}: no room is left for a reply.", "prompt");
        plan.Sampling.Validate();
        var generation = new Generation(this, plan, model.Tokenizer, Math.Min(plan.Sampling.MaxNewTokens, ContextLength - plan.PromptIds.Count), cancellationToken, quiet);
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(stopping, this);
            if (running + waiting.Count >= slots.Length + queueLimit) return null;
            generation.Node = waiting.AddLast(generation);
            // Inside the gate, so the decode thread never sees the registration half written. An already cancelled token
            // runs the callback right here; it takes the gate again (Monitor is re-entrant) and withdraws the request.
            generation.Registration = cancellationToken.Register(static g => ((Generation)g!).Withdraw(), generation);
            Monitor.Pulse(gate);
        }
        return generation.Stream;
    }

    void Run()
    {
        try
        {
            while (true)
            {
                lock (gate)
                {
                    while (!stopping && running == 0 && waiting.Count == 0) Monitor.Wait(gate);
                    if (stopping) break;
                }
                Admit();
                Step();
            }
        }
        catch (Exception e)
        {
            logger.LogCritical(e, "The decode loop of {Model} stopped", name);
        }
        finally
        {
            // Nothing may wait on a loop that is gone: refuse new requests, end the admitted ones.
            List<Generation> left;
            lock (gate)
            {
                stopping = true;
                left = [.. waiting];
                waiting.Clear();
            }
            var unloaded = new ObjectDisposedException(name, $"Model {name} was unloaded.");
            foreach (var generation in left) generation.End(unloaded);
            for (var slot = 0; slot < slots.Length; slot++)
                if (slots[slot] is { } generation) Leave(slot, generation, "error", unloaded);
        }
    }

    /// <summary>Fills free slots from the queue: each new request's prompt is prefilled and its first token sampled.</summary>
    void Admit()
    {
        while (true)
        {
            Generation generation;
            int slot;
            lock (gate)
            {
                slot = Array.IndexOf(slots, null);
                if (slot < 0 || waiting.First is not { } first) return;
                generation = first.Value;
                waiting.RemoveFirst();
                slots[slot] = generation;
                running++;
            }
            if (generation.Cancellation.IsCancellationRequested)
            {
                Leave(slot, generation, "cancelled", new OperationCanceledException(generation.Cancellation));
                continue;
            }
            try
            {
                if (generation.MaxNewTokens == 0)
                {
                    Finish(slot, generation, generation.Text.End(FinishReason.Length));
                    continue;
                }
                generation.Sampler = new TokenSampler(generation.Plan.Sampling, [generation.Plan.PromptIds], model.Model.Config.VocabSize, device);
                using var logits = decoder.Prefill(slot, generation.Plan.PromptIds);
                if (!generation.Quiet) telemetry.PromptTokens.Add(generation.Plan.PromptIds.Count, tags);
                Emit(slot, generation, generation.Sampler.Pick(logits)[0]);
            }
            catch (Exception e)
            {
                Fail(slot, generation, e);
            }
        }
    }

    /// <summary>One token for every request in a slot; cancelled requests leave first.</summary>
    void Step()
    {
        var any = false;
        for (var slot = 0; slot < slots.Length; slot++)
        {
            if (slots[slot] is { } cancelled && cancelled.Cancellation.IsCancellationRequested)
                Leave(slot, cancelled, "cancelled", new OperationCanceledException(cancelled.Cancellation));
            stepActive[slot] = slots[slot] is not null;
            stepTokens[slot] = slots[slot]?.LastToken ?? 0;
            any |= stepActive[slot];
        }
        if (!any) return;
        torch.Tensor logits;
        try
        {
            logits = decoder.Step(stepTokens, stepActive);
        }
        catch (Exception e)
        {
            for (var slot = 0; slot < slots.Length; slot++)
                if (slots[slot] is { } generation) Fail(slot, generation, e);
            return;
        }
        using (logits)
        {
            for (var slot = 0; slot < slots.Length; slot++)
            {
                if (!stepActive[slot] || slots[slot] is not { } generation) continue;
                try
                {
                    using var row = logits.narrow(0, slot, 1);
                    Emit(slot, generation, generation.Sampler!.Pick(row)[0]);
                }
                catch (Exception e)
                {
                    Fail(slot, generation, e);
                }
            }
        }
    }

    /// <summary>A sampled token: stop ids, stop strings and the length cap end the request exactly as in TextGenerator.</summary>
    void Emit(int slot, Generation generation, long token)
    {
        var now = Stopwatch.GetTimestamp();
        if (!generation.Quiet)
        {
            if (generation.Generated == 0) telemetry.TimeToFirstToken.Record(Stopwatch.GetElapsedTime(generation.Submitted, now).TotalSeconds, tags);
            else telemetry.InterTokenLatency.Record(Stopwatch.GetElapsedTime(generation.LastTokenAt, now).TotalSeconds, tags);
            telemetry.GeneratedTokens.Add(1, tags);
        }
        generation.LastTokenAt = now;
        generation.LastToken = token;
        generation.Generated++;
        if (generation.StopTokenIds.Contains((int)token))
        {
            generation.Text.PushStopToken();
            Finish(slot, generation, generation.Text.End(FinishReason.Stop));
            return;
        }
        var piece = generation.Text.Push((int)token);
        if (piece.Finish is not null)
        {
            Finish(slot, generation, piece);
            return;
        }
        if (piece.Text.Length > 0) generation.Output.Writer.TryWrite(piece);
        if (generation.Generated >= generation.MaxNewTokens) Finish(slot, generation, generation.Text.End(FinishReason.Length));
    }

    void Finish(int slot, Generation generation, TextPiece last)
    {
        generation.Output.Writer.TryWrite(last);
        var seconds = Stopwatch.GetElapsedTime(generation.Submitted).TotalSeconds;
        if (!generation.Quiet) Volatile.Write(ref secondsPerRequest, 0.8 * Volatile.Read(ref secondsPerRequest) + 0.2 * seconds);
        Leave(slot, generation, last.Finish == FinishReason.Stop ? "stop" : "length", null);
    }

    void Fail(int slot, Generation generation, Exception error)
    {
        logger.LogError(error, "A request on {Model} failed", name);
        Leave(slot, generation, "error", error);
    }

    /// <summary>Frees the slot at once; the request's stream ends (with <paramref name="error"/> when not finished normally).</summary>
    void Leave(int slot, Generation generation, string outcome, Exception? error)
    {
        lock (gate)
        {
            slots[slot] = null;
            running--;
        }
        if (!generation.Quiet) telemetry.Outcome(outcome, tags);
        generation.End(error);
    }

    /// <summary>Stops the decode loop; requests still inside end with an error (the host unloads only after its last request left).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 1) return;
        lock (gate)
        {
            stopping = true;
            Monitor.PulseAll(gate);
        }
        if (Thread.CurrentThread != loop) loop.Join();
        decoder.Dispose();
    }

    /// <summary>One request inside the engine: its plan, its text, its sampler, and the channel its pieces go out through.</summary>
    sealed class Generation
    {
        readonly BatchEngine engine;

        public Generation(BatchEngine engine, PreparedGeneration plan, TextTokenizer tokenizer, int maxNewTokens, CancellationToken cancellation, bool quiet)
        {
            this.engine = engine;
            (Plan, MaxNewTokens, Cancellation, Quiet) = (plan, maxNewTokens, cancellation, quiet);
            Text = plan.CreateText(tokenizer);
            StopTokenIds = [.. plan.StopTokenIds];
            // The engine thread writes, the request reads; its continuations never run on the engine thread.
            Output = Channel.CreateUnbounded<TextPiece>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
            Stream = new GenerationStream(Output.Reader, plan.PromptIds.Count);
        }

        public PreparedGeneration Plan { get; }
        public GeneratedText Text { get; }
        public HashSet<int> StopTokenIds { get; }
        public int MaxNewTokens { get; }
        public CancellationToken Cancellation { get; }
        /// <summary>The warm-up generation: not counted in the metrics.</summary>
        public bool Quiet { get; }
        public Channel<TextPiece> Output { get; }
        public GenerationStream Stream { get; }
        public long Submitted { get; } = Stopwatch.GetTimestamp();
        public LinkedListNode<Generation>? Node { get; set; }
        public CancellationTokenRegistration Registration { get; set; }
        public TokenSampler? Sampler { get; set; }
        public long LastTokenAt { get; set; }
        public long LastToken { get; set; }
        public int Generated { get; set; }

        /// <summary>The client went away while this request waited: it leaves the queue at once.</summary>
        public void Withdraw()
        {
            bool removed;
            lock (engine.gate)
            {
                removed = Node?.List is not null;
                if (removed) engine.waiting.Remove(Node!);
            }
            if (!removed) return; // in a slot: the loop sees the cancellation before its next step
            if (!Quiet) engine.telemetry.Outcome("cancelled", engine.tags);
            End(new OperationCanceledException(Cancellation));
        }

        /// <summary>Ends the stream; with <paramref name="error"/> the reader gets it instead of a last piece.</summary>
        public void End(Exception? error)
        {
            Sampler?.Dispose();
            Sampler = null;
            Registration.Dispose();
            Output.Writer.TryComplete(error);
        }
    }
}

/// <summary>A request's side of the engine: its text as it comes, the last piece with the finish reason and the usage.</summary>
internal sealed class GenerationStream(ChannelReader<TextPiece> pieces, int promptTokens)
{
    public ChannelReader<TextPiece> Pieces => pieces;
    public int PromptTokens => promptTokens;

    /// <summary>The whole reply. A request the engine could not finish throws (a <see cref="ChannelClosedException"/> around the cause).</summary>
    public async Task<TextCompletion> CollectAsync(CancellationToken cancellationToken)
    {
        var text = new StringBuilder();
        var last = new TextPiece("", null, new TokenUsage(promptTokens, 0));
        await foreach (var piece in pieces.ReadAllAsync(cancellationToken))
        {
            text.Append(piece.Text);
            last = piece;
        }
        return new TextCompletion(text.ToString(), last.Finish ?? FinishReason.Length, last.Usage);
    }
}
