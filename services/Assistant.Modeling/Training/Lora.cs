using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Assistant.Modeling.Training;

/// <summary>
/// LoRA (Hu et al.): each targeted projection W gets y = W x + (alpha / r) * B(A(dropout(x))), A [r, in]
/// and B [out, r], B starting at zero. Adapters attach as forward hooks, so the model's own parameters
/// and names are untouched; files use PEFT's layout (<c>adapter_model.safetensors</c> with keys
/// <c>base_model.model.&lt;module&gt;.lora_A.weight</c>, and <c>adapter_config.json</c>).
/// </summary>
public sealed class LoraAdapters : IDisposable
{
    public const string WeightsFile = "adapter_model.safetensors";
    public const string ConfigFile = "adapter_config.json";

    /// <summary>One adapted projection. <see cref="WeightIsInputMajor"/>: GPT-2's Conv1D keeps W as [in, out].</summary>
    public sealed record Adapter(string ModuleName, Parameter Weight, bool WeightIsInputMajor, Parameter A, Parameter B);

    readonly List<Adapter> adapters = [];
    readonly List<Action> hooks = []; // each removes one forward hook

    public int Rank { get; }
    public double Alpha { get; }
    public double Dropout { get; }
    public double Scale => Alpha / Rank;
    public IReadOnlyList<Adapter> Adapters => adapters;
    public IReadOnlyList<string> TargetModules { get; }

    /// <summary>The projections a family adapts by default (PEFT's defaults).</summary>
    public static IReadOnlyList<string> DefaultTargets(CausalLM model) =>
        model.Config.ModelType == "gpt2" ? ["c_attn"] : ["q_proj", "v_proj"];

    LoraAdapters(int rank, double alpha, double dropout, IReadOnlyList<string> targets) =>
        (Rank, Alpha, Dropout, TargetModules) = (rank, alpha, dropout, targets);

    /// <summary>
    /// Freezes every model parameter and attaches adapters to modules whose last name segment is in
    /// <paramref name="targets"/> (<c>all-linear</c>: every projection but the LM head). A is drawn from
    /// <paramref name="seed"/> (PEFT's kaiming-uniform bound 1/sqrt(in)), B is zero.
    /// </summary>
    public static LoraAdapters Attach(CausalLM model, int rank, double alpha, double dropout, IReadOnlyList<string> targets, long seed)
    {
        if (targets.Count == 0) targets = DefaultTargets(model);
        var lora = new LoraAdapters(rank, alpha, dropout, targets);
        foreach (var p in model.parameters()) p.requires_grad = false;
        using var generator = new torch.Generator(unchecked((ulong)seed));
        var allLinear = targets.Contains("all-linear");
        foreach (var (name, module) in model.named_modules())
        {
            if (module is not nn.Module<Tensor, Tensor> projection || module is not (Linear or Gpt2Conv1D)) continue;
            var last = name[(name.LastIndexOf('.') + 1)..];
            if (!(targets.Contains(last) || (allLinear && last != "lm_head"))) continue;
            var weight = module.named_parameters().First(p => p.name == "weight").parameter;
            var inputMajor = module is Gpt2Conv1D;
            var (inputs, outputs) = inputMajor ? (weight.shape[0], weight.shape[1]) : (weight.shape[1], weight.shape[0]);
            Parameter a, b;
            using (no_grad())
            {
                var bound = 1.0 / Math.Sqrt(inputs);
                a = new Parameter(empty(rank, inputs, weight.dtype, weight.device).uniform_(-bound, bound, generator));
                b = new Parameter(zeros(outputs, rank, weight.dtype, weight.device));
            }
            a.DetachFromDisposeScope();
            b.DetachFromDisposeScope();
            var adapter = new Adapter(name, weight, inputMajor, a, b);
            lora.adapters.Add(adapter);
            var handle = projection.register_forward_hook((m, input, output) => lora.Apply(m, adapter, input, output));
            lora.hooks.Add(handle.remove);
        }
        if (lora.adapters.Count == 0)
            throw new TrainingConfigException($"lora_target_modules [{string.Join(", ", targets)}] match no projection of this {model.Config.ModelType} model.", field: "lora_target_modules");
        return lora;
    }

    Tensor Apply(nn.Module module, Adapter adapter, Tensor input, Tensor output)
    {
        var x = Dropout > 0 ? nn.functional.dropout(input, Dropout, module.training) : input;
        return output + nn.functional.linear(nn.functional.linear(x, adapter.A), adapter.B) * Scale;
    }

    /// <summary>Parameters to optimize, with their PEFT names.</summary>
    public IEnumerable<(string Name, Parameter Parameter)> NamedParameters()
    {
        foreach (var a in adapters)
        {
            yield return ($"base_model.model.{a.ModuleName}.lora_A.weight", a.A);
            yield return ($"base_model.model.{a.ModuleName}.lora_B.weight", a.B);
        }
    }

    public long ParameterCount => adapters.Sum(a => a.A.numel() + a.B.numel());

    public void Save(string folder, string? baseModel)
    {
        Directory.CreateDirectory(folder);
        Safetensors.Save(Path.Combine(folder, WeightsFile), NamedParameters().Select(p => new KeyValuePair<string, Tensor>(p.Name, p.Parameter)));
        var config = new JsonObject
        {
            ["peft_type"] = "LORA",
            ["task_type"] = "CAUSAL_LM",
            ["base_model_name_or_path"] = baseModel,
            ["r"] = Rank,
            ["lora_alpha"] = Alpha,
            ["lora_dropout"] = Dropout,
            ["target_modules"] = new JsonArray(adapters.Select(a => a.ModuleName[(a.ModuleName.LastIndexOf('.') + 1)..]).Distinct().Select(n => (JsonNode?)n).ToArray()),
            ["fan_in_fan_out"] = adapters.Any(a => a.WeightIsInputMajor),
            ["bias"] = "none",
        };
        File.WriteAllText(Path.Combine(folder, ConfigFile), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>Copies adapter weights saved by <see cref="Save"/> into these adapters (same targets and rank).</summary>
    public void Load(string folder)
    {
        var path = Path.Combine(folder, WeightsFile);
        var tensors = Safetensors.Load(path);
        try
        {
            using var _ = no_grad();
            foreach (var (name, parameter) in NamedParameters())
            {
                if (!tensors.TryGetValue(name, out var saved)) throw new ModelFormatException($"'{path}' has no tensor '{name}'.");
                if (!saved.shape.SequenceEqual(parameter.shape))
                    throw new ModelFormatException($"'{path}' tensor '{name}' has shape [{string.Join(", ", saved.shape)}], the adapter needs [{string.Join(", ", parameter.shape)}].");
                parameter.copy_(saved);
            }
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    /// <summary>Folds W += scale * B A into the base weights and detaches the adapters: the model computes the same function, alone.</summary>
    public void Merge()
    {
        using (no_grad())
        {
            foreach (var a in adapters)
            {
                using var scope = NewDisposeScope();
                var delta = a.B.matmul(a.A) * Scale;
                a.Weight.add_(a.WeightIsInputMajor ? delta.t() : delta);
            }
        }
        RemoveHooks();
    }

    void RemoveHooks()
    {
        foreach (var remove in hooks) remove();
        hooks.Clear();
    }

    public void Dispose()
    {
        RemoveHooks();
        foreach (var a in adapters) { a.A.Dispose(); a.B.Dispose(); }
        adapters.Clear();
    }
}
