using Assistant.Modeling.Training;

namespace Assistant.Training.Tests;

public sealed class FineTuneTests
{
    [Fact]
    public void Fine_tuning_a_briefly_pretrained_model_on_domain_chats_lowers_valid_loss_and_raises_exact_match()
    {
        using var temp = new TempFolder();
        var ct = TestContext.Current.CancellationToken;
        var pretrain = TrainingRun.Execute(new TrainingSpec
        {
            Model = TinyModel.Create(temp.Sub("model"), hidden: 128), TrainFile = TestData.File("coast.jsonl"), OutputDir = temp.Sub("pretrain"),
            Config = TinyModel.Config with { Method = TrainingMethods.Pretrain, MaxSteps = 60, BatchSize = 8, MaxLength = 64, LearningRate = 3e-3, WarmupSteps = 10 },
        }, null, ct);
        Assert.Equal(TrainingStatus.Succeeded, pretrain.Status);

        var config = TinyModel.Config with
        {
            Method = TrainingMethods.Full, MaxSteps = 320, BatchSize = 8, MaxLength = 128, LearningRate = 3e-3, WarmupSteps = 20,
            EvalOnStart = true, EvalSteps = 160, EvalSamples = 2, MaxNewTokens = 72, LoggingSteps = 20, Packing = true,
        };
        var before = TrainingRun.Score(pretrain.FinalModelPath!, TestData.File("support_test.jsonl"), config);
        var result = TrainingRun.Execute(new TrainingSpec
        {
            Model = pretrain.FinalModelPath!, TrainFile = TestData.File("support_train.jsonl"), ValidationFile = TestData.File("support_valid.jsonl"),
            TestFile = TestData.File("support_test.jsonl"), OutputDir = temp.Sub("sft"), Config = config,
        }, null, ct);
        Assert.Equal(TrainingStatus.Succeeded, result.Status);

        var evals = Metrics.Of(temp.Sub("sft"), "eval");
        var (start, end) = ((double)evals[0]["valid_loss"]!, (double)evals[^1]["valid_loss"]!);
        Assert.True(end < start - 1.0, $"valid_loss {start:F3} -> {end:F3}");
        var test = result.Test!;
        Assert.Equal(12, test.Examples);
        var detail = string.Join("\n", test.Samples.Select(s => $"{s.Prompt} => {s.Generated} | {s.Reference}"));
        Assert.True(test.ExactMatch >= before.ExactMatch + 0.5, $"exact match {before.ExactMatch} -> {test.ExactMatch}\n{detail}");
        Assert.True(test.RougeL > before.RougeL + 0.4, $"ROUGE-L {before.RougeL:F3} -> {test.RougeL:F3}\n{detail}");
        Assert.True(test.TestLoss < before.TestLoss - 1.0, $"test_loss {before.TestLoss:F3} -> {test.TestLoss:F3}");
        Assert.Single(Metrics.Of(temp.Sub("sft"), "test"));
        Assert.Equal(2, evals[^1]["samples"]!.AsArray().Count);
    }
}
