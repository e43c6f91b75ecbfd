using Assistant.Modeling;
using Assistant.Modeling.Training;
using Assistant.Tokenization;
using static TorchSharp.torch;

namespace Assistant.Training.Tests;

public sealed class DataTests
{
    static SequenceEncoder Encoder(int maxLength = 64, bool allTokens = false) =>
        new(ByteTokenizer.Instance, ChatTemplate.ChatML, maxLength, allTokens);

    [Fact]
    public void Every_accepted_format_becomes_a_conversation_or_a_text()
    {
        using var temp = new TempFolder();
        var path = TestData.Write(temp.Path, "mixed.jsonl",
            """{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}]}""",
            "",
            """{"context":"Where?","response":"Here."}""",
            """{"prompt":"2+2","completion":"4"}""",
            """{"instruction":"Translate","input":"chat","output":"cat"}""",
            """{"instruction":"Say yes","output":"yes"}""",
            """{"text":"plain text"}""");
        var examples = TrainingData.Read(path, requireAssistant: true);
        Assert.Equal([1, 3, 4, 5, 6, 7], examples.Select(e => e.Line));
        Assert.Equal(3, examples[0].Messages!.Count);
        Assert.Equal(new ChatMessage("user", "Where?"), examples[1].Messages![0]);
        Assert.Equal(new ChatMessage("assistant", "4"), examples[2].Messages![1]);
        Assert.Equal("Translate\n\nchat", examples[3].Messages![0].Content);
        Assert.Equal("Say yes", examples[4].Messages![0].Content);
        Assert.Equal("plain text", examples[5].Text);
    }

    [Theory]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}""", ":2: invalid_json: ")]
    [InlineData("""[1,2]""", ":2: data_type: ")]
    [InlineData("""{"messages":[]}""", ":2: missing_messages_list: ")]
    [InlineData("""{"messages":[{"role":"bot","content":"hi"}]}""", ":2: unrecognized_role: ")]
    [InlineData("""{"messages":[{"role":"user"}]}""", ":2: message_missing_key: ")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}]}""", ":2: example_missing_assistant_message: ")]
    [InlineData("""{"context":"hi"}""", ":2: missing_field: ")]
    [InlineData("""{"prompt":"hi","completion":5}""", ":2: data_type: ")]
    [InlineData("""{"question":"hi","answer":"yo"}""", ":2: unknown_format: ")]
    // The codes are the ones uploads are validated with: the trainer parses through Assistant.Datasets.
    public void A_bad_line_is_reported_with_its_number_and_fault(string badLine, string expected)
    {
        using var temp = new TempFolder();
        var path = TestData.Write(temp.Path, "bad.jsonl", """{"prompt":"ok","completion":"fine"}""", badLine);
        var error = Assert.Throws<TrainingDataException>(() => TrainingData.Read(path, requireAssistant: true));
        Assert.Contains(expected, error.Message);
        Assert.StartsWith(path, error.Message);
    }

    [Fact]
    public void A_bad_data_file_stops_the_run_before_any_model_is_loaded()
    {
        using var temp = new TempFolder();
        var data = TestData.Write(temp.Path, "train.jsonl", """{"text":"fine"}""", """{"text":"fine"}""", """{"txt":"typo"}""");
        var spec = new TrainingSpec { Model = temp.Sub("no-such-model"), TrainFile = data, OutputDir = temp.Sub("out"), Config = TinyModel.Config with { Method = TrainingMethods.Pretrain } };
        var error = Assert.Throws<TrainingDataException>(() => TrainingRun.Execute(spec, null, TestContext.Current.CancellationToken));
        Assert.Contains("train.jsonl:3: unknown_format: ", error.Message);
        Assert.False(Directory.Exists(temp.Sub("out")));
    }

    [Fact]
    public void Only_assistant_tokens_carry_loss_on_a_hand_built_conversation()
    {
        var example = new TrainingExample(1, [ChatMessage.FromUser("Hi?"), ChatMessage.FromAssistant("Yo."), ChatMessage.FromUser("And?"), ChatMessage.FromAssistant("Ok")], null);
        var sequence = Encoder().Encode(example);
        // <|im_start|>user\nHi?<|im_end|>\n<|im_start|>assistant\nYo.<|im_end|>\n<|im_start|>user\nAnd?<|im_end|>\n<|im_start|>assistant\nOk<|im_end|>\n
        var text = ByteTokenizer.Instance.Decode(sequence.Ids);
        Assert.Equal("<|im_start|>user\nHi?<|im_end|>\n<|im_start|>assistant\nYo.<|im_end|>\n<|im_start|>user\nAnd?<|im_end|>\n<|im_start|>assistant\nOk<|im_end|>\n", text);
        var row = BatchRow.From(sequence);
        var trainedTargets = row.Targets.Where(t => t != Batch.IgnoreIndex).ToArray();
        // Exactly "Yo." + <|im_end|> and "Ok" + <|im_end|>, in order, nothing from the user or the markup.
        int[] expected = [.. "Yo."u8.ToArray().Select(b => (int)b), ByteTokenizer.ImEndId, .. "Ok"u8.ToArray().Select(b => (int)b), ByteTokenizer.ImEndId];
        Assert.Equal(expected, trainedTargets);

        // The loss the trainer computes equals cross-entropy over exactly those positions, computed independently.
        using var temp = new TempFolder();
        using var model = HfCheckpoint.Load(TinyModel.Create(temp.Sub("m")));
        var batch = new Batch([row], StarterVocabulary.Pad);
        using var scope = NewDisposeScope();
        var (lossSum, _) = Evaluator.LossSum(model, batch, CPU);
        var logits = model.forward(tensor(row.Inputs.Select(i => (long)i).ToArray(), [1, row.Length]));
        var logProbs = logits.log_softmax(-1)[0];
        double manual = 0;
        for (var i = 0; i < row.Length; i++)
            if (row.Targets[i] != Batch.IgnoreIndex) manual -= logProbs[i, row.Targets[i]].item<float>();
        Assert.Equal(manual, lossSum.item<float>(), 3);
        Assert.Equal(expected.Length, batch.LossTokens);

        // With train_on_all_tokens every next token counts.
        Assert.Equal(sequence.Ids.Length - 1, BatchRow.From(Encoder(allTokens: true).Encode(example)).Targets.Count(t => t != Batch.IgnoreIndex));
    }

    [Fact]
    public void Batches_are_right_padded_to_a_multiple_of_8_and_long_examples_truncated()
    {
        var short1 = new TokenSequence([1, 2, 3, 4, 5], [true, true, true, true, true]);
        var short2 = new TokenSequence([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], Enumerable.Repeat(true, 11).ToArray());
        var batch = new Batch([BatchRow.From(short1), BatchRow.From(short2)], padId: 258);
        Assert.Equal(16, batch.Length);
        Assert.Equal(258, batch.InputIds[4]);
        Assert.Equal(Batch.IgnoreIndex, batch.Targets[4]);
        Assert.Equal(4 + 10, batch.LossTokens);
        Assert.Null(batch.Segments);

        var example = new TrainingExample(1, null, new string('x', 100));
        var sequences = Encoder(maxLength: 20).EncodeExamples([example], out var truncated);
        Assert.Equal(1, truncated);
        Assert.Equal(21, sequences[0].Ids.Length); // 20 inputs, each predicting the next
    }

    [Fact]
    public void Packed_rows_give_the_same_loss_as_separate_rows()
    {
        using var temp = new TempFolder();
        using var model = HfCheckpoint.Load(TinyModel.Create(temp.Sub("m")));
        var encoder = Encoder();
        var rows = new[] { "The cat sat.", "A much longer second example here.", "Third!" }
            .Select(t => BatchRow.From(encoder.Encode(new TrainingExample(1, [ChatMessage.FromUser("q"), ChatMessage.FromAssistant(t)], null))))
            .ToList();
        using var scope = NewDisposeScope();
        var separate = new Batch(rows, StarterVocabulary.Pad);
        var packed = new Batch([BatchRow.Pack(rows)], StarterVocabulary.Pad);
        Assert.NotNull(packed.Segments);
        Assert.Equal(separate.LossTokens, packed.LossTokens);
        var (separateLoss, separateRight) = Evaluator.LossSum(model, separate, CPU);
        var (packedLoss, packedRight) = Evaluator.LossSum(model, packed, CPU);
        Assert.Equal(separateLoss.item<float>(), packedLoss.item<float>(), 3);
        Assert.Equal(separateRight, packedRight);

        // Without the block mask the later examples would see the earlier ones and the loss would differ.
        var (ids, _, positions, _) = packed.ToTensors(CPU);
        var unmasked = model.forward(ids, positions, null);
        var (_, targets, _, _) = packed.ToTensors(CPU);
        var unmaskedLoss = nn.functional.cross_entropy(unmasked.view(-1, unmasked.shape[^1]), targets.view(-1), ignore_index: Batch.IgnoreIndex, reduction: nn.Reduction.Sum);
        Assert.True(Math.Abs(unmaskedLoss.item<float>() - packedLoss.item<float>()) > 1e-3);
    }

    [Fact]
    public void Packing_fills_rows_up_to_max_length_and_the_order_is_a_function_of_the_seed()
    {
        var sequences = Enumerable.Range(0, 20).Select(i => new TokenSequence(Enumerable.Range(0, 5 + i % 7).ToArray(), Enumerable.Repeat(true, 5 + i % 7).ToArray())).ToList();
        var packed = new BatchSchedule(sequences, batchSize: 2, maxLength: 32, packing: true, padId: 0, seed: 3, shuffle: true);
        Assert.True(packed.RowCount < sequences.Count);
        Assert.All(Enumerable.Range(0, packed.BatchesPerEpoch), i => Assert.True(packed.Get(i).Length <= 32));
        var again = new BatchSchedule(sequences, 2, 32, true, 0, 3, true);
        Assert.Equal(packed.Get(5).InputIds, again.Get(5).InputIds);
        var other = new BatchSchedule(sequences, 2, 32, true, 0, 4, true);
        Assert.NotEqual(packed.Get(0).InputIds, other.Get(0).InputIds);
        Assert.Equal(sequences.Sum(s => s.LossTokens), Enumerable.Range(0, packed.BatchesPerEpoch).Sum(i => packed.Get(i).LossTokens));
    }

    [Fact]
    public void Learning_rate_warms_up_linearly_then_decays_to_the_floor()
    {
        var cosine = new LearningRateSchedule(1.0, WarmupSteps: 4, TotalSteps: 14, Kind: "cosine", MinLrRatio: 0.1);
        Assert.Equal(0.25, cosine.At(0), 12);
        Assert.Equal(1.0, cosine.At(3), 12);
        Assert.Equal(1.0, cosine.At(4), 12);
        Assert.Equal(0.55, cosine.At(9), 12);
        Assert.Equal(0.1, cosine.At(14), 12);
        var linear = cosine with { Kind = "linear" };
        Assert.Equal(0.55, linear.At(9), 12);
        Assert.Equal(0.82, linear.At(6), 12);
        Assert.Equal(1.0, (cosine with { Kind = "constant" }).At(13), 12);
    }

    [Fact]
    public void Task_scores_follow_their_definitions()
    {
        Assert.Equal(1, TextScores.ExactMatch("  Two  years. ", "two years."));
        Assert.Equal(0, TextScores.ExactMatch("Two years", "two years."));
        Assert.Equal(1, TextScores.RougeL("The warranty lasts two years.", "the warranty lasts two years"), 12);
        // LCS "the cat the" (3) of 6 generated and 4 reference words: P = 1/2, R = 3/4, F1 = 0.6.
        Assert.Equal(0.6, TextScores.RougeL("the cat sat on the mat", "the cat saw the"), 12);
        Assert.Equal(0, TextScores.RougeL("abc", "xyz"));
    }

    [Fact]
    public void Config_json_uses_the_seed_names_and_rejects_unknown_keys()
    {
        var config = TrainingConfig.FromJson("""{"learning_rate": 0.001, "num_epochs": 2, "batch_size": 4, "max_length": 128, "method": "lora", "lora_r": 4}""");
        Assert.Equal((0.001, 2.0, 4, 128, "lora", 4), (config.LearningRate, config.NumEpochs, config.BatchSize, config.MaxLength, config.Method, config.LoraR));
        Assert.Contains("\"gradient_accumulation_steps\"", config.ToJson());
        var error = Assert.Throws<TrainingConfigException>(() => TrainingConfig.FromJson("""{"learning_rat": 0.1}"""));
        Assert.Contains("learning_rat", error.Message);
        Assert.Contains("lr_scheduler", Assert.Throws<TrainingConfigException>(() => (config with { LrScheduler = "step" }).Validate()).Message);
        var spec = new TrainingSpec { Model = "m", TrainFile = "t", OutputDir = "o", Config = config };
        Assert.Equal(spec.Config, TrainingSpec.FromJson(spec.ToJson()).Config with { LoraTargetModules = spec.Config.LoraTargetModules });
    }
}
