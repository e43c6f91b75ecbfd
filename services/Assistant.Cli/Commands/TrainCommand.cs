using System.CommandLine;
using Assistant.Modeling.Training;

namespace Assistant.Cli.Commands;

/// <summary><c>assistant train</c>: fine-tune or pretrain a local model folder on local JSONL files.</summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "HF model folder, or starter:llama-tiny / starter:gpt2-small for a new starter model.", Required = true };
        var data = new Option<string>("--data") { Description = "Training JSONL: messages, context/response, prompt/completion, instruction/output, or text.", Required = true };
        var validation = new Option<string?>("--validation") { Description = "Validation JSONL: valid_loss, perplexity and sample generations at each eval." };
        var test = new Option<string?>("--test") { Description = "Test JSONL scored at the end: exact match and ROUGE-L of generated answers." };
        var output = new Option<string>("--out") { Description = "Output folder: metrics.jsonl, checkpoint-N folders, final/ (HF layout).", Required = true };
        var method = new Option<string?>("--method") { Description = "pretrain, full or lora (default: the config's, else full)." };
        method.AcceptOnlyFromAmong(TrainingMethods.Pretrain, TrainingMethods.Full, TrainingMethods.Lora, "sft");
        var maxSteps = new Option<int?>("--max-steps") { Description = "Optimizer steps to run." };
        var epochs = new Option<double?>("--epochs") { Description = "Passes over the data (when --max-steps is not given)." };
        var config = new Option<string?>("--config") { Description = "Training config JSON (learning_rate, batch_size, max_length, lora_r...)." };
        var resume = new Option<bool>("--resume") { Description = "Continue from the latest complete checkpoint in --out." };
        var command = new Command("train", "Train a model on local files (offline; no platform needed).")
        {
            model, data, validation, test, output, method, maxSteps, epochs, config, resume,
        };
        command.SetAction((parse, ct) =>
        {
            var options = new TrainCommandOptions
            {
                Model = parse.GetValue(model)!, Data = parse.GetValue(data)!, Validation = parse.GetValue(validation), Test = parse.GetValue(test),
                Out = parse.GetValue(output)!, Method = parse.GetValue(method), MaxSteps = parse.GetValue(maxSteps), Epochs = parse.GetValue(epochs),
                ConfigFile = parse.GetValue(config), Resume = parse.GetValue(resume),
            };
            var writer = parse.InvocationConfiguration.Output;
            var isTerminal = ReferenceEquals(writer, Console.Out) && !Console.IsOutputRedirected;
            // Training is CPU-bound and synchronous: run it off the invocation thread so Ctrl+C's token is seen.
            return Task.Run(() => TrainingConsole.Run(options, writer, parse.InvocationConfiguration.Error, isTerminal, ct), CancellationToken.None);
        });
        return command;
    }
}
