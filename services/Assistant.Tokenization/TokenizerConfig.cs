using System.Text.Json;

namespace Assistant.Tokenization;

/// <summary>
/// The tokenizer settings a Hugging Face model folder states in <c>tokenizer_config.json</c> (and, for
/// older folders, <c>special_tokens_map.json</c>): special-token names, <c>add_bos_token</c>, the Jinja
/// <c>chat_template</c>, extra added tokens. Values in <c>tokenizer_config.json</c> win.
/// </summary>
public sealed record TokenizerConfig
{
    /// <summary>File name of the main config.</summary>
    public const string FileName = "tokenizer_config.json";

    /// <summary>File name of the older special-token map.</summary>
    public const string SpecialTokensMapFileName = "special_tokens_map.json";

    /// <summary>Text of the bos token, if named.</summary>
    public string? BosToken { get; init; }

    /// <summary>Text of the eos token, if named.</summary>
    public string? EosToken { get; init; }

    /// <summary>Text of the pad token, if named.</summary>
    public string? PadToken { get; init; }

    /// <summary>Text of the unk token, if named.</summary>
    public string? UnkToken { get; init; }

    /// <summary><c>add_bos_token</c>, when stated.</summary>
    public bool? AddBosToken { get; init; }

    /// <summary><c>legacy</c> (SentencePiece dummy prefix after every special token), when stated.</summary>
    public bool? Legacy { get; init; }

    /// <summary>The Jinja chat template (the "default" one when the file lists several).</summary>
    public string? ChatTemplate { get; init; }

    /// <summary>Tokens from <c>added_tokens_decoder</c>.</summary>
    public IReadOnlyList<AddedToken> AddedTokens { get; init; } = [];

    /// <summary>This platform's marker naming a built-in tokenizer (see <see cref="ByteTokenizer.FormatName"/>).</summary>
    public string? AssistantTokenizer { get; init; }

    /// <summary>Reads the config files of a model folder; a folder without them gives an empty config.</summary>
    public static TokenizerConfig Read(string modelDirectory)
    {
        var config = new TokenizerConfig();
        var map = Path.Combine(modelDirectory, SpecialTokensMapFileName);
        if (File.Exists(map))
        {
            config = Apply(config, map);
        }

        var main = Path.Combine(modelDirectory, FileName);
        return File.Exists(main) ? Apply(config, main) : config;
    }

    private static TokenizerConfig Apply(TokenizerConfig config, string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            using var document = JsonDocument.Parse(stream);
            var root = document.RootElement;
            return config with
            {
                BosToken = TokenText(root, "bos_token") ?? config.BosToken,
                EosToken = TokenText(root, "eos_token") ?? config.EosToken,
                PadToken = TokenText(root, "pad_token") ?? config.PadToken,
                UnkToken = TokenText(root, "unk_token") ?? config.UnkToken,
                AddBosToken = Bool(root, "add_bos_token") ?? config.AddBosToken,
                Legacy = Bool(root, "legacy") ?? config.Legacy,
                ChatTemplate = ReadChatTemplate(root) ?? config.ChatTemplate,
                AddedTokens = ReadAddedTokens(root) ?? config.AddedTokens,
                AssistantTokenizer = root.TryGetProperty("assistant_tokenizer", out var marker) && marker.ValueKind == JsonValueKind.String
                    ? marker.GetString()
                    : config.AssistantTokenizer,
            };
        }
        catch (Exception e) when (e is JsonException or InvalidDataException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }

    // A token is written as a string or as an AddedToken object {"content": ...}.
    private static string? TokenText(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value)
            ? value.ValueKind switch
            {
                JsonValueKind.String => value.GetString(),
                JsonValueKind.Object => value.Required("content").GetString(),
                _ => null,
            }
            : null;

    private static bool? Bool(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind is JsonValueKind.True or JsonValueKind.False ? value.GetBoolean() : null;

    private static string? ReadChatTemplate(JsonElement root)
    {
        if (!root.TryGetProperty("chat_template", out var template))
        {
            return null;
        }

        if (template.ValueKind == JsonValueKind.String)
        {
            return template.GetString();
        }

        if (template.ValueKind != JsonValueKind.Array)
        {
            return null;
        }

        var named = template.EnumerateArray()
            .Select(t => (Name: t.Required("name").GetString(), Template: t.Required("template").GetString()))
            .ToList();
        return named.FirstOrDefault(t => t.Name == "default").Template ?? named.FirstOrDefault().Template;
    }

    private static List<AddedToken>? ReadAddedTokens(JsonElement root)
    {
        if (!root.TryGetProperty("added_tokens_decoder", out var decoder) || decoder.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        return decoder.EnumerateObject()
            .Select(e => new AddedToken(
                e.Value.Required("content").GetString()!,
                int.Parse(e.Name, System.Globalization.CultureInfo.InvariantCulture),
                e.Value.TryGetProperty("special", out var special) && special.GetBoolean()))
            .ToList();
    }
}
