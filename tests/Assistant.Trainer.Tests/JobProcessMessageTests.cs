using Assistant.Modeling.Training;
using Assistant.Trainer.JobProcesses;

namespace Assistant.Trainer.Tests;

public sealed class JobProcessMessageTests
{
    [Fact]
    public void Training_events_and_the_result_line_round_trip()
    {
        var checkpoint = JobProcessMessage.Parse(new CheckpointSaved { Step = 5, Path = "/out/checkpoint-5", IsBest = true }.ToJson());
        Assert.Equal(new CheckpointSaved { Step = 5, Path = "/out/checkpoint-5", IsBest = true }, checkpoint.Event);

        var line = new JobProcessResult { Status = "failed", Steps = 3, Error = new JobError("nan_loss", "train_loss is NaN at step 3") }.ToJson();
        Assert.StartsWith("{\"type\":\"result\"", line);
        var result = JobProcessMessage.Parse(line).Result;
        Assert.Equal("failed", result?.Status);
        Assert.Equal(new JobError("nan_loss", "train_loss is NaN at step 3"), result?.Error);
    }

    [Theory]
    [InlineData("[W NNPACK.cpp:64] Could not initialize NNPACK")]
    [InlineData("{\"type\":\"unknown\",\"step\":1}")]
    [InlineData("{not json")]
    public void Anything_else_on_stdout_is_text_not_a_failure(string line)
    {
        var message = JobProcessMessage.Parse(line);
        Assert.Null(message.Event);
        Assert.Null(message.Result);
        Assert.Equal(line, message.Text);
    }
}
