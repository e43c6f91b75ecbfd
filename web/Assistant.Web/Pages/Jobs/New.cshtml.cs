using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Assistant.Web.Gateway;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using CompareModel = Assistant.Web.Pages.CompareModel;

namespace Assistant.Web.Pages.Jobs;

/// <summary>The new-job form as posted: text, so a value that is not a number is named like the API's own errors.</summary>
public sealed class JobForm
{
    public string? BaseModel { get; set; }
    public string Method { get; set; } = "full";
    public string? TrainingData { get; set; }
    public string? ValidationData { get; set; }
    /// <summary>Percent of the training data split off for validation, instead of a validation dataset.</summary>
    public string? HoldOut { get; set; }
    public string? Suffix { get; set; }
    // Defaults of the platform's TrainingConfig.
    public string? LearningRate { get; set; } = "0.0002";
    public string? MaxSteps { get; set; }
    public string? NumEpochs { get; set; } = "3";
    public string? BatchSize { get; set; } = "8";
    public string? MaxLength { get; set; }
    public string? LoraR { get; set; } = "8";
    /// <summary>Any other hyperparameters, one <c>key=value</c> per line.</summary>
    public string? Other { get; set; }

    /// <summary>job, or sweep: the same body with some hyperparameters given as lists of values, one job per trial.</summary>
    public string Create { get; set; } = "job";
    public string SweepSearch { get; set; } = "grid";
    public string? SweepMaxTrials { get; set; }
    // Values to try per hyperparameter, comma separated; a swept value replaces the fixed one above.
    public string? SweepLearningRate { get; set; }
    public string? SweepBatchSize { get; set; }
    public string? SweepLoraR { get; set; }
    public string? SweepMaxSteps { get; set; }

    public bool IsSweep => Create == "sweep";
}

/// <summary>A dataset version to choose in a form: its reference (<c>name@N</c>) and how it reads.</summary>
public sealed record DatasetOption(string Ref, string Label)
{
    /// <summary>
    /// The versions offered for the most recent datasets: each one's latest (with its format and size) and up to
    /// <paramref name="perDataset"/> - 1 older ones, newest datasets first.
    /// </summary>
    public static IReadOnlyList<DatasetOption> Recent(IEnumerable<DatasetSummary> datasets, int perDataset) =>
        datasets.Where(d => d.LatestVersion is not null).OrderByDescending(d => d.CreatedAt).Take(100)
            .SelectMany(d => Enumerable.Range(0, Math.Min(perDataset, d.LatestVersion!.Value)).Select(back =>
            {
                var version = d.LatestVersion!.Value - back;
                return new DatasetOption($"{d.Name}@{version}", back == 0
                    ? $"{d.Name}@{version} · {d.Format} · {d.Examples:N0} examples (latest)"
                    : $"{d.Name}@{version}");
            }))
            .ToList();
}

public sealed class NewModel(PlatformApi api) : PageModel
{
    /// <summary>Older versions offered per dataset besides the latest.</summary>
    private const int OlderVersions = 4;
    public const string OtherField = "other";

    [BindProperty]
    public JobForm Form { get; set; } = new();

    public IReadOnlyList<ModelSummary> Models { get; private set; } = [];
    public IReadOnlyList<DatasetOption> Datasets { get; private set; } = [];
    public string? LoadError { get; private set; }

    /// <summary>Errors by the API's name of the field at fault (<c>hyperparameters.learning_rate</c>); "" for the whole form.</summary>
    public Dictionary<string, string> Errors { get; } = [];

    public string? ErrorFor(string param) => Errors.GetValueOrDefault(param);

    public async Task OnGetAsync(CancellationToken ct)
    {
        await LoadChoicesAsync(ct);
        Form.BaseModel ??= Models.FirstOrDefault(m => m.Name == "starter")?.Name ?? Models.FirstOrDefault()?.Name;
        Form.TrainingData ??= Datasets.FirstOrDefault()?.Ref;
    }

    public async Task<IActionResult> OnPostAsync(CancellationToken ct)
    {
        var body = Build();
        if (Form.IsSweep)
        {
            AddSweep(body);
        }
        if (Errors.Count == 0)
        {
            try
            {
                if (Form.IsSweep)
                {
                    return SweepCreated(await api.CreateSweepAsync(body, ct));
                }
                var job = await api.CreateJobAsync(body, ct);
                return Redirect($"/jobs/{Uri.EscapeDataString(job.Id)}");
            }
            catch (GatewayProblem problem)
            {
                var field = Field(problem.Param);
                Errors[field] = field == "" && problem.Param is { } param ? $"{problem.Detail} ({param})" : problem.Detail;
            }
        }
        await LoadChoicesAsync(ct);
        return Page();
    }

    private async Task LoadChoicesAsync(CancellationToken ct)
    {
        var models = api.ListModelsAsync(ct);
        var datasets = api.ListDatasetsAsync(ct);
        try
        {
            Models = (await models).Data;
            Datasets = DatasetOption.Recent(await datasets, OlderVersions + 1);
        }
        catch (GatewayProblem problem)
        {
            LoadError = $"The models and datasets to choose from could not be read: {problem.Detail}";
        }
    }

    /// <summary>The API's job body; what cannot be a number is an error named like the API would name it.</summary>
    private JsonObject Build()
    {
        var hyperparameters = new JsonObject();
        void Number(string key, string? text, bool integer)
        {
            if (string.IsNullOrWhiteSpace(text))
            {
                return;
            }
            if (integer && long.TryParse(text.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var whole))
            {
                hyperparameters[key] = whole;
            }
            else if (!integer && double.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var real) && double.IsFinite(real))
            {
                hyperparameters[key] = real;
            }
            else
            {
                Errors[$"hyperparameters.{key}"] = integer ? $"{key} must be a whole number." : $"{key} must be a number (like 0.0002 or 2e-4).";
            }
        }
        Number("learning_rate", Form.LearningRate, integer: false);
        Number("max_steps", Form.MaxSteps, integer: true);
        if (string.IsNullOrWhiteSpace(Form.MaxSteps) || Form.MaxSteps.Trim() == "0")
        {
            Number("num_epochs", Form.NumEpochs, integer: false);
        }
        Number("batch_size", Form.BatchSize, integer: true);
        Number("max_length", Form.MaxLength, integer: true);
        if (Form.Method == "lora")
        {
            Number("lora_r", Form.LoraR, integer: true);
        }
        foreach (var (line, index) in (Form.Other ?? "").Split('\n').Select((l, i) => (l.Trim(), i + 1)).Where(l => l.Item1.Length > 0))
        {
            var equals = line.IndexOf('=');
            if (equals <= 0)
            {
                Errors[OtherField] = $"Line {index} is not key=value: '{line}'.";
                break;
            }
            var (key, value) = (line[..equals].Trim(), line[(equals + 1)..].Trim());
            hyperparameters[key] = ParseValue(value);
        }

        var body = new JsonObject
        {
            ["base_model"] = Form.BaseModel,
            ["method"] = Form.Method,
            ["training_data"] = Form.TrainingData,
            ["hyperparameters"] = hyperparameters,
        };
        if (!string.IsNullOrWhiteSpace(Form.ValidationData))
        {
            body["validation_data"] = Form.ValidationData;
        }
        if (!string.IsNullOrWhiteSpace(Form.HoldOut))
        {
            HoldOut(body);
        }
        if (!string.IsNullOrWhiteSpace(Form.Suffix))
        {
            body["suffix"] = Form.Suffix.Trim();
        }
        return body;
    }

    /// <summary>
    /// A share of the training data held out for validation: the API's seeded split of the dataset version (train and
    /// validation parts, no test), which takes the place of training_data.
    /// </summary>
    private void HoldOut(JsonObject body)
    {
        const string field = "split.ratios";
        if (!double.TryParse(Form.HoldOut!.Trim().TrimEnd('%'), NumberStyles.Float, CultureInfo.InvariantCulture, out var percent) || percent is < 1 or > 50)
        {
            Errors[field] = "Hold out between 1 and 50 percent of the training data (like 10).";
            return;
        }
        if (!string.IsNullOrWhiteSpace(Form.ValidationData))
        {
            Errors[field] = "Choose validation data or a share to hold out, not both.";
            return;
        }
        var share = Math.Round(percent / 100, 4);
        body.Remove("training_data");
        body["split"] = new JsonObject { ["dataset"] = Form.TrainingData, ["ratios"] = new JsonArray(1 - share, share, 0.0) };
    }

    /// <summary>The hyperparameters swept (the key, the form's text, whole numbers or not) and what the form calls them.</summary>
    private IEnumerable<(string Key, string? Text, bool Integer)> Swept() =>
    [
        ("learning_rate", Form.SweepLearningRate, false),
        ("batch_size", Form.SweepBatchSize, true),
        ("max_steps", Form.SweepMaxSteps, true),
        .. Form.Method == "lora" ? [("lora_r", Form.SweepLoraR, true)] : Array.Empty<(string, string?, bool)>(),
    ];

    /// <summary>Turns the job body into a sweep's: search, max_trials and parameters {key: [values]}, each swept key out of the fixed ones.</summary>
    private void AddSweep(JsonObject body)
    {
        var hyperparameters = (JsonObject)body["hyperparameters"]!;
        var parameters = new JsonObject();
        foreach (var (key, text, integer) in Swept())
        {
            if (string.IsNullOrWhiteSpace(text))
            {
                continue;
            }
            var values = new JsonArray();
            foreach (var item in text.Split(',', StringSplitOptions.TrimEntries))
            {
                if (integer && long.TryParse(item, NumberStyles.Integer, CultureInfo.InvariantCulture, out var whole))
                {
                    values.Add(whole);
                }
                else if (!integer && double.TryParse(item, NumberStyles.Float, CultureInfo.InvariantCulture, out var real) && double.IsFinite(real))
                {
                    values.Add(real);
                }
                else
                {
                    Errors[$"parameters.{key}"] = $"'{item}' is not {(integer ? "a whole number" : "a number")}: give {key} values separated by commas{(integer ? ", like 2, 4" : ", like 1e-4, 3e-4")}.";
                    values = null;
                    break;
                }
            }
            if (values is not null)
            {
                parameters[key] = values;
                hyperparameters.Remove(key);
                // The fixed field's own error no longer applies: its value is not sent.
                Errors.Remove($"hyperparameters.{key}");
            }
        }
        if (parameters.Count == 0 && !Errors.Keys.Any(k => k.StartsWith("parameters.", StringComparison.Ordinal)))
        {
            Errors["parameters"] = "Give the values to try for at least one hyperparameter.";
        }
        body["search"] = Form.SweepSearch is "random" ? "random" : "grid";
        body["parameters"] = parameters;
        if (!string.IsNullOrWhiteSpace(Form.SweepMaxTrials))
        {
            if (int.TryParse(Form.SweepMaxTrials.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var trials))
            {
                body["max_trials"] = trials;
            }
            else
            {
                Errors["max_trials"] = "max_trials must be a whole number.";
            }
        }
    }

    /// <summary>A sweep's jobs open side by side on the compare page (a single trial opens its job).</summary>
    private IActionResult SweepCreated(Sweep sweep)
    {
        TempData["Notice"] = $"Sweep created: {sweep.Jobs.Count} job{(sweep.Jobs.Count == 1 ? "" : "s")} ({sweep.Search} search).";
        if (sweep.Jobs.Count == 1)
        {
            return Redirect($"/jobs/{Uri.EscapeDataString(sweep.Jobs[0].Id)}");
        }
        var ids = string.Join(',', sweep.Jobs.Take(CompareModel.MostRuns).Select(j => Uri.EscapeDataString(j.Id)));
        return Redirect($"/compare?ids={ids}&sweep={sweep.Id}");
    }

    /// <summary>A value typed as JSON where it is JSON (numbers, true, lists), as text otherwise (cosine).</summary>
    private static JsonNode? ParseValue(string text)
    {
        try
        {
            return JsonNode.Parse(text);
        }
        catch (JsonException)
        {
            return JsonValue.Create(text);
        }
    }

    private static readonly HashSet<string> FormFields =
    [
        "base_model", "method", "training_data", "validation_data", "split.ratios", "suffix", "hyperparameters.learning_rate", "hyperparameters.max_steps",
        "hyperparameters.num_epochs", "hyperparameters.batch_size", "hyperparameters.max_length", "hyperparameters.lora_r",
        "search", "max_trials", "parameters", "parameters.learning_rate", "parameters.batch_size", "parameters.max_steps", "parameters.lora_r",
    ];

    /// <summary>Where an API error is shown: next to the field it names, under the other hyperparameters, or above the form.</summary>
    private string Field(string? param) => param switch
    {
        null => "",
        _ when FormFields.Contains(param) => param,
        _ when param.StartsWith("parameters.", StringComparison.Ordinal) && FormFields.Contains(string.Join('.', param.Split('.').Take(2))) =>
            string.Join('.', param.Split('.').Take(2)),
        "model_name" => "base_model",
        "dataset_path" or "split.dataset" => "training_data",
        "split" => "split.ratios",
        _ when param.StartsWith("hyperparameters", StringComparison.Ordinal) && !string.IsNullOrWhiteSpace(Form.Other) => OtherField,
        _ => "",
    };
}
