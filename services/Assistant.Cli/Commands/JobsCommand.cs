using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using static Assistant.Cli.Commands.ApiCalls;

namespace Assistant.Cli.Commands;

/// <summary><c>assistant jobs ...</c>: create, list, show, follow, cancel and compare training jobs.</summary>
internal static class JobsCommand
{
    public static Command Create()
    {
        var command = new Command("jobs", "Create and watch training jobs on the platform's workers.")
        {
            CreateJob(), List(), Show(), Follow(), Cancel(), Compare(), Events(), Evaluate(), Evaluations(),
        };
        command.Options.Add(GatewayConnection.Gateway);
        return command;
    }

    private static Command CreateJob()
    {
        var data = new Option<string>("--data") { Description = "Training data: DATASET@VERSION.", Required = true };
        var baseModel = new Option<string>("--base-model") { Description = "Registered base model: NAME, NAME@VERSION or NAME:ALIAS.", DefaultValueFactory = _ => "starter" };
        var method = new Option<string>("--method") { Description = "pretrain, full or lora.", DefaultValueFactory = _ => "full" };
        var validation = new Option<string?>("--validation") { Description = "Validation data: DATASET@VERSION." };
        var test = new Option<string?>("--test") { Description = "Test data scored at the end: DATASET@VERSION." };
        var split = new Option<string?>("--split") { Description = "Split the training data instead: TRAIN,VALID,TEST ratios, e.g. 0.8,0.1,0.1." };
        var hyper = new Option<string[]>("--set") { Description = "A hyperparameter, KEY=VALUE (repeatable): learning_rate=3e-4, max_steps=200, lora_r=8...", AllowMultipleArgumentsPerToken = false };
        var config = new Option<FileInfo?>("--config") { Description = "Hyperparameters from a JSON file (--set values win)." };
        var seed = new Option<long?>("--seed") { Description = "Random seed of the run." };
        var suffix = new Option<string?>("--suffix") { Description = "Name of the registered model the job produces." };
        var maxAttempts = new Option<int?>("--max-attempts") { Description = "Attempts before a job whose worker keeps dying fails (default 3)." };
        var follow = new Option<bool>("--follow") { Description = "Follow the job's progress until it ends." };
        var command = new Command("create", "Queue a training job.") { data, baseModel, method, validation, test, split, hyper, config, seed, suffix, maxAttempts, follow };
        command.SetAction((parse, ct) => GatewayConnection.RunAsync(parse, async (http, output, error) =>
        {
            var hyperparameters = new JsonObject();
            if (parse.GetValue(config) is { } file)
            {
                if (!file.Exists) throw new ArgumentValueException($"--config: {file.FullName} does not exist.");
                try
                {
                    hyperparameters = JsonNode.Parse(await File.ReadAllTextAsync(file.FullName, ct)) as JsonObject
                        ?? throw new ArgumentValueException($"--config: {file.Name} is not a JSON object.");
                }
                catch (JsonException e)
                {
                    throw new ArgumentValueException($"--config: {file.Name} is not valid JSON ({e.Message}).");
                }
            }
            foreach (var pair in parse.GetValue(hyper) ?? [])
            {
                var eq = pair.IndexOf('=');
                if (eq <= 0) throw new ArgumentValueException($"--set '{pair}' is not KEY=VALUE.");
                hyperparameters[pair[..eq].Trim()] = ParseValue(pair[(eq + 1)..].Trim());
            }
            var request = new JsonObject
            {
                ["base_model"] = parse.GetValue(baseModel),
                ["method"] = parse.GetValue(method),
                ["training_data"] = parse.GetValue(data),
                ["hyperparameters"] = hyperparameters,
            };
            if (parse.GetValue(validation) is { } v) request["validation_data"] = v;
            if (parse.GetValue(test) is { } t) request["test_data"] = t;
            if (parse.GetValue(split) is { } ratios)
            {
                var parts = ratios.Split(',');
                var numbers = parts.Select(p => double.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out var r) ? r : double.NaN).ToArray();
                if (parts.Length != 3 || numbers.Any(double.IsNaN)) throw new ArgumentValueException($"--split '{ratios}' is not three ratios such as 0.8,0.1,0.1.");
                request["split"] = new JsonObject { ["dataset"] = parse.GetValue(data), ["ratios"] = new JsonArray(numbers.Select(n => (JsonNode)n).ToArray()) };
            }
            if (parse.GetValue(seed) is { } s) request["seed"] = s;
            if (parse.GetValue(suffix) is { } x) request["suffix"] = x;
            if (parse.GetValue(maxAttempts) is { } m) request["max_attempts"] = m;

            var (job, code) = await SendAsync(http, HttpMethod.Post, "api/jobs/", request, error, ct);
            if (job is null) return code;
            using (job)
            {
                var id = Text(job.RootElement, "id");
                await output.WriteLineAsync($"{id} {Text(job.RootElement, "status")}: {Text(job.RootElement, "method")} of {Text(job.RootElement, "base_model")} on {parse.GetValue(data)}");
                return parse.GetValue(follow) ? await JobFollower.FollowAsync(http, id, output, error, ct) : 0;
            }
        }));
        return command;
    }

    /// <summary>KEY=VALUE values: numbers and booleans as JSON numbers/booleans, lists as arrays, the rest as strings.</summary>
    private static JsonNode? ParseValue(string text)
    {
        if (text is "true" or "false") return text == "true";
        if (long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var integer)) return integer;
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number)) return number;
        if (text.StartsWith('[')) return JsonNode.Parse(text);
        return text;
    }

    private static Command List()
    {
        var status = new Option<string?>("--status") { Description = "Only jobs in this state (queued, running, succeeded, failed, cancelled)." };
        var limit = new Option<int>("--limit") { Description = "How many, newest first (default 20).", DefaultValueFactory = _ => 20 };
        var command = new Command("list", "List jobs, newest first.") { status, limit };
        command.SetAction((parse, ct) => GatewayConnection.RunAsync(parse, async (http, output, error) =>
        {
            var query = $"api/jobs/?limit={parse.GetValue(limit)}" + (parse.GetValue(status) is { } s ? $"&status={Uri.EscapeDataString(s)}" : "");
            var (list, code) = await GetAsync(http, query, error, ct);
            if (list is null) return code;
            using (list)
            {
                await output.WriteLineAsync($"{"ID",-30} {"STATUS",-16} {"METHOD",-8} {"BASE",-16} {"STEP",11} {"TRAIN_LOSS",10} {"VALID_LOSS",10} CREATED");
                foreach (var job in list.RootElement.GetProperty("data").EnumerateArray())
                {
                    var metrics = job.TryGetProperty("metrics", out var m) ? m : default;
                    await output.WriteLineAsync($"{Text(job, "id"),-30} {Text(job, "status"),-16} {Text(job, "method"),-8} {Text(job, "base_model"),-16} " +
                        $"{$"{Text(job, "step")}/{Text(job, "total_steps")}",11} {Metric(metrics, "train_loss"),10} {Metric(metrics, "valid_loss"),10} {Text(job, "created_at")}");
                }
            }
            return 0;
        }));
        return command;
    }

    private static Argument<string> JobId() => new("id") { Description = "Job id (ftjob-...)." };

    private static Command Show()
    {
        var id = JobId();
        var command = new Command("show", "Show a job: configuration, state, metrics and error.") { id };
        command.SetAction((parse, ct) => GatewayConnection.RunAsync(parse, async (http, output, error) =>
        {
            var (job, code) = await GetAsync(http, $"api/jobs/{Uri.EscapeDataString(parse.GetValue(id)!)}", error, ct);
            if (job is null) return code;
            using (job) await output.WriteLineAsync(JsonSerializer.Serialize(job.RootElement, Indented));
            return 0;
        }));
        return command;
    }

    private static Command Follow()
    {
        var id = JobId();
        var command = new Command("follow", "Follow a job live (progress bar with loss and ETA) until it ends; exit code 0 when it succeeds.") { id };
        command.SetAction((parse, ct) => GatewayConnection.RunAsync(parse, (http, output, error) =>
            JobFollower.FollowAsync(http, parse.GetValue(id)!, output, error, ct)));
        return command;
    }

    private static Command Cancel()
    {
        var id = JobId();
        var command = new Command("cancel", "Cancel a queued or running job (a running one stops within one optimizer step).") { id };
        command.SetAction((parse, ct) => GatewayConnection.RunAsync(parse, async (http, output, error) =>
        {
            var (job, code) = await SendAsync(http, HttpMethod.Post, $"api/jobs/{Uri.EscapeDataString(parse.GetValue(id)!)}/cancel", null, error, ct);
            if (job is null) return code;
            using (job) await output.WriteLineAsync($"{Text(job.RootElement, "id")} {Text(job.RootElement, "status")}{(Text(job.RootElement, "status") == "running" ? " (cancel requested)" : "")}");
            return 0;
        }));
        return command;
    }

    private static Command Events()
    {
        var id = JobId();
        var limit = new Option<int>("--limit") { Description = "How many, newest first (default 50).", DefaultValueFactory = _ => 50 };
        var command = new Command("events", "A job's events: status changes, evaluations, checkpoints, messages.") { id, limit };
        command.SetAction((parse, ct) => GatewayConnection.RunAsync(parse, async (http, output, error) =>
        {
            var (events, code) = await GetAsync(http, $"api/jobs/{Uri.EscapeDataString(parse.GetValue(id)!)}/events?limit={parse.GetValue(limit)}", error, ct);
            if (events is null) return code;
            using (events)
            {
                foreach (var e in events.RootElement.GetProperty("data").EnumerateArray().Reverse())
                    await output.WriteLineAsync($"{Text(e, "created_at")} {Text(e, "level"),-5} {Text(e, "type"),-10} {Text(e, "message")}");
            }
            return 0;
        }));
        return command;
    }

    private static Command Evaluate()
    {
        var id = JobId();
        var dataset = new Option<string>("--dataset") { Description = "The dataset version to score the model on: name@version.", Required = true };
        var follow = new Option<bool>("--follow") { Description = "Wait until it ends and print its metrics; exit code 0 when it succeeds." };
        var command = new Command("evaluate", "Score a succeeded job's model on a dataset version (test loss, exact match, ROUGE-L); a worker runs it.") { id, dataset, follow };
        command.SetAction((parse, ct) => GatewayConnection.RunAsync(parse, async (http, output, error) =>
        {
            var (queued, code) = await SendAsync(http, HttpMethod.Post, $"api/jobs/{Uri.EscapeDataString(parse.GetValue(id)!)}/evaluate", new { dataset = parse.GetValue(dataset) }, error, ct);
            if (queued is null) return code;
            string evaluationId;
            using (queued)
            {
                evaluationId = Text(queued.RootElement, "id");
                await output.WriteLineAsync($"{evaluationId} {Text(queued.RootElement, "status")} on {Text(queued.RootElement, "dataset")}");
            }
            if (!parse.GetValue(follow)) return 0;
            while (true)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), ct);
                var (current, failed) = await GetAsync(http, $"api/evaluations/{Uri.EscapeDataString(evaluationId)}", error, ct);
                if (current is null) return failed;
                using (current)
                {
                    var root = current.RootElement;
                    var status = Text(root, "status");
                    if (status is "queued" or "running") continue;
                    await output.WriteLineAsync(status == "succeeded" ? $"succeeded: {MetricsText(root)}" : $"{status}: {Text(root, "error")}");
                    return status == "succeeded" ? 0 : 1;
                }
            }
        }));
        return command;
    }

    private static Command Evaluations()
    {
        var id = JobId();
        var command = new Command("evaluations", "A job's evaluations, newest first, with their metrics.") { id };
        command.SetAction((parse, ct) => GatewayConnection.RunAsync(parse, async (http, output, error) =>
        {
            var (evaluations, code) = await GetAsync(http, $"api/jobs/{Uri.EscapeDataString(parse.GetValue(id)!)}/evaluations", error, ct);
            if (evaluations is null) return code;
            using (evaluations)
            {
                foreach (var e in evaluations.RootElement.GetProperty("data").EnumerateArray())
                    await output.WriteLineAsync($"{Text(e, "id")} {Text(e, "status"),-9} {Text(e, "dataset"),-28} {(Text(e, "status") == "failed" ? Text(e, "error") : MetricsText(e))}".TrimEnd());
            }
            return 0;
        }));
        return command;
    }

    /// <summary>An evaluation's metrics as "name value" pairs: counts as whole numbers, the rest to 4 decimals.</summary>
    private static string MetricsText(JsonElement evaluation) =>
        evaluation.TryGetProperty("metrics", out var metrics) && metrics.ValueKind == JsonValueKind.Object
            ? string.Join("  ", metrics.EnumerateObject().Where(m => m.Value.ValueKind == JsonValueKind.Number)
                .Select(m => $"{m.Name} {(IsCount(m.Name) ? m.Value.GetDouble().ToString("0", CultureInfo.InvariantCulture) : Metric(metrics, m.Name))}"))
            : "";

    private static bool IsCount(string metric) => metric is "examples" or "tokens" || metric.EndsWith("_examples", StringComparison.Ordinal) || metric.EndsWith("_tokens", StringComparison.Ordinal);

    private static Command Compare()
    {
        var ids = new Argument<string[]>("ids") { Description = "Two or more job ids.", Arity = new ArgumentArity(2, 20) };
        var command = new Command("compare", "Compare runs: hyperparameters that differ and final metrics side by side.") { ids };
        command.SetAction((parse, ct) => GatewayConnection.RunAsync(parse, async (http, output, error) =>
        {
            var jobIds = parse.GetValue(ids)!;
            var (comparison, code) = await GetAsync(http, $"api/jobs/compare?ids={Uri.EscapeDataString(string.Join(',', jobIds))}", error, ct);
            if (comparison is null) return code;
            using (comparison)
            {
                var root = comparison.RootElement;
                const int width = 32;
                await output.WriteLineAsync($"{"",-28}" + string.Concat(jobIds.Select(j => $" {j,-width}")));
                if (root.TryGetProperty("hyperparameters", out var differing) && differing.ValueKind == JsonValueKind.Object)
                {
                    foreach (var parameter in differing.EnumerateObject())
                        await output.WriteLineAsync($"{parameter.Name,-28}" + string.Concat(jobIds.Select(j => $" {Text(parameter.Value, j),-width}")));
                }
                if (root.TryGetProperty("metrics", out var metrics) && metrics.ValueKind == JsonValueKind.Object)
                {
                    foreach (var metric in metrics.EnumerateObject())
                    {
                        var finals = jobIds.Select(j => LastValue(metric.Value, j));
                        await output.WriteLineAsync($"{"final " + metric.Name,-28}" + string.Concat(finals.Select(v => $" {v,-width}")));
                    }
                }
            }
            return 0;
        }));
        return command;
    }

    /// <summary>The last non-null value of one job's series in an aligned metric ({steps, series: {id: [...]}}).</summary>
    private static string LastValue(JsonElement metric, string jobId)
    {
        if (!metric.TryGetProperty("series", out var series) || !series.TryGetProperty(jobId, out var values) || values.ValueKind != JsonValueKind.Array) return "-";
        var last = values.EnumerateArray().LastOrDefault(v => v.ValueKind == JsonValueKind.Number);
        return last.ValueKind == JsonValueKind.Number ? last.GetDouble().ToString("F4", CultureInfo.InvariantCulture) : "-";
    }
}
