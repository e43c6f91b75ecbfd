using System.Text.Json;

namespace Assistant.Tokenization;

/// <summary>
/// Writes the starter byte tokenizer into a model folder so the folder describes itself:
/// <c>tokenizer_config.json</c> (with the <c>assistant_tokenizer</c> marker this platform loads by, the
/// special tokens and a ChatML <c>chat_template</c>), <c>special_tokens_map.json</c>, and an equivalent
/// Hugging Face <c>tokenizer.json</c> (256 byte tokens, no merges) that other tools can load.
/// </summary>
public static class ByteTokenizerFiles
{
    private static readonly JsonWriterOptions Indented = new() { Indented = true };

    /// <summary>Writes the three files, replacing any that exist.</summary>
    public static void Write(string modelDirectory)
    {
        Directory.CreateDirectory(modelDirectory);
        WriteJson(Path.Combine(modelDirectory, TokenizerConfig.FileName), WriteConfig);
        WriteJson(Path.Combine(modelDirectory, TokenizerConfig.SpecialTokensMapFileName), WriteSpecialTokensMap);
        WriteJson(Path.Combine(modelDirectory, TokenizerLoader.TokenizerJsonFileName), WriteTokenizerJson);
    }

    private static void WriteJson(string path, Action<Utf8JsonWriter> write)
    {
        using var stream = File.Create(path);
        using var writer = new Utf8JsonWriter(stream, Indented);
        write(writer);
    }

    private static void WriteConfig(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteString("assistant_tokenizer", ByteTokenizer.FormatName);
        w.WriteString("tokenizer_class", "PreTrainedTokenizerFast");
        WriteSpecialTokenNames(w);
        w.WriteBoolean("add_bos_token", false);
        w.WriteBoolean("add_eos_token", false);
        w.WriteBoolean("clean_up_tokenization_spaces", false);
        w.WriteStartObject("added_tokens_decoder");
        foreach (var token in ByteTokenizer.ControlTokens)
        {
            w.WriteStartObject(token.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            WriteAddedTokenFlags(w, token);
            w.WriteEndObject();
        }

        w.WriteEndObject();
        w.WriteString("chat_template", ChatTemplate.ChatMLJinja);
        w.WriteEndObject();
    }

    private static void WriteSpecialTokensMap(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        WriteSpecialTokenNames(w);
        w.WriteEndObject();
    }

    private static void WriteSpecialTokenNames(Utf8JsonWriter w)
    {
        w.WriteString("bos_token", ByteTokenizer.BosText);
        w.WriteString("eos_token", ByteTokenizer.EosText);
        w.WriteString("pad_token", ByteTokenizer.PadText);
        w.WriteStartArray("additional_special_tokens");
        w.WriteStringValue(ByteTokenizer.ImStartText);
        w.WriteStringValue(ByteTokenizer.ImEndText);
        w.WriteEndArray();
    }

    private static void WriteAddedTokenFlags(Utf8JsonWriter w, AddedToken token)
    {
        w.WriteString("content", token.Content);
        w.WriteBoolean("lstrip", false);
        w.WriteBoolean("normalized", false);
        w.WriteBoolean("rstrip", false);
        w.WriteBoolean("single_word", false);
        w.WriteBoolean("special", token.IsSpecial);
    }

    // A byte-level BPE with one token per byte and no merges gives exactly the byte tokenizer's ids.
    private static void WriteTokenizerJson(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteString("version", "1.0");
        w.WriteNull("truncation");
        w.WriteNull("padding");
        w.WriteStartArray("added_tokens");
        foreach (var token in ByteTokenizer.ControlTokens)
        {
            w.WriteStartObject();
            w.WriteNumber("id", token.Id);
            WriteAddedTokenFlags(w, token);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteNull("normalizer");
        WriteByteLevelStep(w, "pre_tokenizer");
        w.WriteNull("post_processor");
        WriteByteLevelStep(w, "decoder");
        w.WriteStartObject("model");
        w.WriteString("type", "BPE");
        w.WriteNull("dropout");
        w.WriteNull("unk_token");
        w.WriteNull("continuing_subword_prefix");
        w.WriteNull("end_of_word_suffix");
        w.WriteBoolean("fuse_unk", false);
        w.WriteBoolean("byte_fallback", false);
        w.WriteBoolean("ignore_merges", false);
        w.WriteStartObject("vocab");
        for (var b = 0; b < 256; b++)
        {
            w.WriteNumber(ByteLevelAlphabet.ToChar((byte)b).ToString(), b);
        }

        w.WriteEndObject();
        w.WriteStartArray("merges");
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteByteLevelStep(Utf8JsonWriter w, string name)
    {
        w.WriteStartObject(name);
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", false);
        w.WriteBoolean("trim_offsets", true);
        w.WriteBoolean("use_regex", true);
        w.WriteEndObject();
    }
}
