using Assistant.Modeling.Training;

namespace Assistant.Training.Tests;

/// <summary>What <c>assistant train</c> does, through the class its command calls.</summary>
public sealed class ConsoleTests
{
    [Fact]
    public void A_bad_data_file_is_one_line_on_stderr_with_the_line_number_and_a_non_zero_exit()
    {
        using var temp = new TempFolder();
        var data = TestData.Write(temp.Path, "chat.jsonl", """{"prompt":"a","completion":"b"}""", """{"messages":[{"role":"user","content":"hi"},{"role":"robot","content":"x"}]}""");
        var (output, error) = (new StringWriter(), new StringWriter());
        var code = TrainingConsole.Run(new TrainCommandOptions { Model = TinyModel.Create(temp.Sub("m")), Data = data, Out = temp.Sub("out") }, output, error, false, TestContext.Current.CancellationToken);
        Assert.Equal(TrainingConsole.UserError, code);
        Assert.StartsWith($"{data}:2: unrecognized_role: ", error.ToString());
        Assert.EndsWith($"(messages[1].role){Environment.NewLine}", error.ToString());
        Assert.Single(error.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries));
        Assert.DoesNotContain("   at ", error.ToString());
    }

    [Fact]
    public void Config_file_errors_name_the_field()
    {
        using var temp = new TempFolder();
        var config = TestData.Write(temp.Path, "config.json", """{"learning_rate": -1}""");
        var error = new StringWriter();
        var code = TrainingConsole.Run(new TrainCommandOptions { Model = "m", Data = "d", Out = temp.Sub("out"), ConfigFile = config }, TextWriter.Null, error, false, TestContext.Current.CancellationToken);
        Assert.Equal(TrainingConsole.UserError, code);
        Assert.Equal("learning_rate must be a positive number.", error.ToString().Trim());
    }

    [Fact]
    public void A_run_prints_plain_lines_writes_metrics_and_the_final_folder_and_flags_override_the_config()
    {
        using var temp = new TempFolder();
        var config = TestData.Write(temp.Path, "config.json", (TinyModel.Config with { MaxSteps = 50, LoggingSteps = 1 }).ToJson());
        var options = new TrainCommandOptions
        {
            Model = TinyModel.Create(temp.Sub("m")), Data = TestData.File("coast.jsonl"), Validation = TestData.File("coast_valid.jsonl"),
            Out = temp.Sub("out"), Method = "pretrain", MaxSteps = 3, ConfigFile = config,
        };
        var (output, error) = (new StringWriter(), new StringWriter());
        var code = TrainingConsole.Run(options, output, error, false, TestContext.Current.CancellationToken);
        Assert.True(code == TrainingConsole.Ok, error.ToString());
        var lines = output.ToString().Split(Environment.NewLine);
        Assert.Equal(3, lines.Count(l => l.StartsWith("step ", StringComparison.Ordinal)));
        Assert.Matches(@"^step 3/3 \| loss \d+\.\d{4} \| acc .* \| lr .* \| norm .* \| \d+ tok/s \| mfu \d+% \| \d+ ms \| \d+ MiB$", lines.First(l => l.StartsWith("step 3/3", StringComparison.Ordinal)));
        Assert.Contains(lines, l => l.StartsWith("eval step 3 | valid_loss", StringComparison.Ordinal));
        Assert.StartsWith("done: 3 steps", lines.First(l => l.StartsWith("done", StringComparison.Ordinal)));
        Assert.True(File.Exists(Path.Combine(options.Out, "final", "model.safetensors")));
        Assert.Equal(4, Metrics.Read(options.Out).Count); // 3 steps + 1 eval
    }

    [Fact]
    public void On_a_terminal_the_progress_is_one_bar_redrawn_in_place()
    {
        using var temp = new TempFolder();
        var options = new TrainCommandOptions { Model = TinyModel.Create(temp.Sub("m")), Data = TestData.File("coast.jsonl"), Out = temp.Sub("out"), Method = "pretrain", MaxSteps = 3 };
        var output = new StringWriter();
        Assert.Equal(TrainingConsole.Ok, TrainingConsole.Run(options, output, TextWriter.Null, true, TestContext.Current.CancellationToken));
        var text = output.ToString();
        Assert.Equal(3, text.Split('\r').Count(p => p.StartsWith('[')));
        Assert.Contains("] 3/3 | loss ", text);
        Assert.DoesNotContain("step 1/3", text);
    }
}
