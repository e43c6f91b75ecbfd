using System.Text;

namespace Assistant.Tokenization;

/// <summary>
/// Lays a conversation out as the text a chat model was trained on, the same way for training (with a
/// mask over the assistant's tokens) and serving (with the generation prompt and the stop markers).
/// </summary>
/// <remarks>
/// <para>A model's own template is recognised from the Jinja <c>chat_template</c> in its
/// <c>tokenizer_config.json</c> by distinctive markers (<see cref="Classify"/>); there is no Jinja engine.</para>
/// <para><see cref="Encode"/> encodes each stretch of trained (assistant content + end marker) or untrained
/// text on its own rather than the whole rendered text at once: the mask is then exact by construction, and
/// serving's prompt (which ends where an assistant reply starts) is the training prefix token for token.
/// Inside a stretch, special tokens are matched only in template markup, never in message contents (a user
/// who types "&lt;|im_end|&gt;" cannot end a turn). The ids equal encoding the whole rendered text with special
/// tokens allowed when the contents hold no special-token strings and the trained/untrained boundaries are
/// pre-token boundaries for the tokenizer, which holds when the turn markers are special tokens of the
/// tokenizer (each layout with its own models' tokenizers, and the byte tokenizer); the tests check it.</para>
/// </remarks>
public sealed class ChatTemplate
{
    /// <summary>ChatML as a Jinja template, for <c>tokenizer_config.json</c> files this platform writes.</summary>
    public const string ChatMLJinja =
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    private const string ImStart = "<|im_start|>";
    private const string ImEnd = "<|im_end|>";
    private const string StartHeader = "<|start_header_id|>";
    private const string EndHeader = "<|end_header_id|>";
    private const string EndOfTurn = "<|eot_id|>";
    private const string ContextHeader = "### Контекст:";
    private const string ResponseHeader = "### Ответ ассистента:";

    private ChatTemplate(ChatTemplateFormat format, string bosToken, string eosToken)
    {
        Format = format;
        BosToken = bosToken;
        EosToken = eosToken;
    }

    /// <summary>The default template: ChatML.</summary>
    public static ChatTemplate ChatML { get; } = Create(ChatTemplateFormat.ChatML);

    /// <summary>Which layout this is.</summary>
    public ChatTemplateFormat Format { get; }

    /// <summary>The bos text the layout writes (Llama 2 and 3 put it in the text).</summary>
    public string BosToken { get; }

    /// <summary>The eos text that ends assistant turns in Llama 2, Zephyr and the seed format.</summary>
    public string EosToken { get; }

    /// <summary>Strings that end an assistant turn: serving stops generating at any of them.</summary>
    public IReadOnlyList<string> StopStrings => Format switch
    {
        ChatTemplateFormat.ChatML => [ImEnd],
        ChatTemplateFormat.Llama3 => [EndOfTurn],
        ChatTemplateFormat.ContextResponse => [EosToken, "\n" + ContextHeader],
        _ => [EosToken],
    };

    /// <summary>A template; bos/eos default to the ones the format's models use.</summary>
    public static ChatTemplate Create(ChatTemplateFormat format, string? bosToken = null, string? eosToken = null)
    {
        var (defaultBos, defaultEos) = format switch
        {
            ChatTemplateFormat.Llama3 => ("<|begin_of_text|>", "<|end_of_text|>"),
            ChatTemplateFormat.Llama2 or ChatTemplateFormat.Zephyr => ("<s>", "</s>"),
            _ => (string.Empty, "<|endoftext|>"),
        };
        return new ChatTemplate(format, bosToken ?? defaultBos, eosToken ?? defaultEos);
    }

    /// <summary>A template whose bos/eos are the tokenizer's own.</summary>
    public static ChatTemplate Create(ChatTemplateFormat format, TextTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        return Create(format, tokenizer.Special.Bos?.Text, tokenizer.Special.Eos?.Text);
    }

    /// <summary>The template a Jinja <c>chat_template</c> implements (ChatML when unrecognised or absent).</summary>
    public static ChatTemplate FromJinja(string? jinja, string? bosToken = null, string? eosToken = null) =>
        Create(Classify(jinja), bosToken, eosToken);

    /// <summary>The template named by a model folder's <c>tokenizer_config.json</c>; ChatML when it names none.</summary>
    public static ChatTemplate FromModelFolder(string modelDirectory)
    {
        var config = TokenizerConfig.Read(modelDirectory);
        return FromJinja(config.ChatTemplate, config.BosToken, config.EosToken);
    }

    /// <summary>Recognises a Jinja chat template by the markers it writes.</summary>
    public static ChatTemplateFormat Classify(string? jinja)
    {
        if (string.IsNullOrWhiteSpace(jinja))
        {
            return ChatTemplateFormat.ChatML;
        }

        bool Has(string marker) => jinja.Contains(marker, StringComparison.Ordinal);
        return Has(StartHeader) && Has(EndHeader) ? ChatTemplateFormat.Llama3
            : Has(ImStart) ? ChatTemplateFormat.ChatML
            : Has("[INST]") ? ChatTemplateFormat.Llama2
            : Has("<|user|>") || Has("<|assistant|>") ? ChatTemplateFormat.Zephyr
            : Has("Контекст") && Has("Ответ ассистента") ? ChatTemplateFormat.ContextResponse
            : ChatTemplateFormat.ChatML;
    }

    /// <summary>
    /// Renders a conversation. With <paramref name="addGenerationPrompt"/> the text ends where the model
    /// should start the assistant's reply (serving).
    /// </summary>
    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = false)
    {
        var text = new StringBuilder();
        foreach (var segment in Segments(messages, addGenerationPrompt))
        {
            text.Append(segment.Text);
        }

        return text.ToString();
    }

    /// <summary>
    /// Encodes a conversation with the mask over assistant contents and end markers. A bos id is put first
    /// when the tokenizer expects one and the layout does not already write it.
    /// </summary>
    public EncodedConversation Encode(IReadOnlyList<ChatMessage> messages, TextTokenizer tokenizer, bool addGenerationPrompt = false)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        var builder = new TokenSequenceBuilder(tokenizer);
        var writesBos = Format is ChatTemplateFormat.Llama2 or ChatTemplateFormat.Llama3;
        if (tokenizer.AddBos && !writesBos && tokenizer.Special.Bos is { } bos)
        {
            builder.AppendId(bos.Id, trained: false);
        }

        // Consecutive segments with the same mask are encoded as one text, so only trained/untrained
        // boundaries cut the text, and those sit where the generation prompt ends or next to an end marker.
        var segments = Segments(messages, addGenerationPrompt);
        for (var start = 0; start < segments.Count;)
        {
            var end = start;
            while (end < segments.Count && segments[end].IsTrained == segments[start].IsTrained)
            {
                end++;
            }

            builder.AppendParts(segments[start..end].Select(s => (s.Text, s.AllowsSpecialTokens)).ToList(), segments[start].IsTrained);
            start = end;
        }

        return new EncodedConversation(builder.Ids.ToArray(), builder.Mask.ToArray());
    }

    /// <summary>Ids that end an assistant turn: stop strings that are single added tokens, and the tokenizer's eos.</summary>
    public IReadOnlyList<int> StopTokenIds(TextTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        var ids = new List<int>();
        foreach (var stop in StopStrings)
        {
            if (tokenizer.Encode(stop, allowSpecialTokens: true) is [var id] && tokenizer.AddedTokenFor(id) is not null)
            {
                ids.Add(id);
            }
        }

        if (tokenizer.Special.Eos is { } eos)
        {
            ids.Add(eos.Id);
        }

        return ids.Distinct().ToArray();
    }

    private List<TemplateSegment> Segments(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        ArgumentNullException.ThrowIfNull(messages);
        for (var i = 0; i < messages.Count; i++)
        {
            if (messages[i]?.Role is not (ChatMessage.System or ChatMessage.User or ChatMessage.Assistant))
            {
                throw new ArgumentException($"messages[{i}].role '{messages[i]?.Role}' is not one of system, user, assistant.", nameof(messages));
            }

            if (messages[i].Content is null)
            {
                throw new ArgumentException($"messages[{i}].content is missing.", nameof(messages));
            }
        }

        var segments = new List<TemplateSegment>();
        switch (Format)
        {
            case ChatTemplateFormat.ChatML:
                RenderChatML(messages, addGenerationPrompt, segments);
                break;
            case ChatTemplateFormat.Llama2:
                RenderLlama2(messages, segments);
                break;
            case ChatTemplateFormat.Llama3:
                RenderLlama3(messages, addGenerationPrompt, segments);
                break;
            case ChatTemplateFormat.Zephyr:
                RenderZephyr(messages, addGenerationPrompt, segments);
                break;
            case ChatTemplateFormat.ContextResponse:
                RenderContextResponse(messages, addGenerationPrompt, segments);
                break;
        }

        return segments.Where(s => s.Text.Length > 0).ToList();
    }

    private static void AddMessage(List<TemplateSegment> segments, ChatMessage message, string content, string end)
    {
        var isAssistant = message.Role == ChatMessage.Assistant;
        segments.Add(new(content, isAssistant ? SegmentKind.AssistantContent : SegmentKind.Content));
        segments.Add(new(end, isAssistant ? SegmentKind.AssistantEnd : SegmentKind.Markup));
    }

    private static void RenderChatML(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt, List<TemplateSegment> segments)
    {
        foreach (var message in messages)
        {
            segments.Add(new($"{ImStart}{message.Role}\n", SegmentKind.Markup));
            AddMessage(segments, message, message.Content, ImEnd);
            segments.Add(new("\n", SegmentKind.Markup));
        }

        if (addGenerationPrompt)
        {
            segments.Add(new($"{ImStart}{ChatMessage.Assistant}\n", SegmentKind.Markup));
        }
    }

    // As Meta's template: contents trimmed, bos once at the start.
    private void RenderLlama3(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt, List<TemplateSegment> segments)
    {
        segments.Add(new(BosToken, SegmentKind.Markup));
        foreach (var message in messages)
        {
            segments.Add(new($"{StartHeader}{message.Role}{EndHeader}\n\n", SegmentKind.Markup));
            AddMessage(segments, message, message.Content.Trim(), EndOfTurn);
        }

        if (addGenerationPrompt)
        {
            segments.Add(new($"{StartHeader}{ChatMessage.Assistant}{EndHeader}\n\n", SegmentKind.Markup));
        }
    }

    // As Meta's Llama 2 template: the system prompt goes inside the next user turn, contents are stripped,
    // every user turn opens with bos, and the assistant turn " {content} " ends with eos. The prompt ends at
    // "[/INST]", which is already a generation prompt.
    private void RenderLlama2(IReadOnlyList<ChatMessage> messages, List<TemplateSegment> segments)
    {
        string? system = null;
        foreach (var message in messages)
        {
            switch (message.Role)
            {
                case ChatMessage.System:
                    system = system is null ? message.Content.Trim() : $"{system}\n{message.Content.Trim()}";
                    break;
                case ChatMessage.User:
                    AddLlama2UserTurn(segments, system, message.Content.Trim());
                    system = null;
                    break;
                default:
                    if (system is not null)
                    {
                        AddLlama2UserTurn(segments, system, string.Empty);
                        system = null;
                    }

                    AddMessage(segments, message, $" {message.Content.Trim()} ", EosToken);
                    break;
            }
        }

        if (system is not null)
        {
            AddLlama2UserTurn(segments, system, string.Empty);
        }
    }

    // Boundaries sit before spaces ("[INST]" | " hi"), where SentencePiece and GPT-2 style splits put them too.
    private void AddLlama2UserTurn(List<TemplateSegment> segments, string? system, string user)
    {
        segments.Add(new(BosToken, SegmentKind.Markup));
        segments.Add(new("[INST]", SegmentKind.Markup));
        if (system is not null)
        {
            segments.Add(new(" <<SYS>>\n", SegmentKind.Markup));
            segments.Add(new(system, SegmentKind.Content));
            segments.Add(new("\n<</SYS>>\n\n", SegmentKind.Markup));
            segments.Add(new(user, SegmentKind.Content));
        }
        else
        {
            segments.Add(new(" " + user, SegmentKind.Content));
        }

        segments.Add(new(" [/INST]", SegmentKind.Markup));
    }

    private void RenderZephyr(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt, List<TemplateSegment> segments)
    {
        foreach (var message in messages)
        {
            segments.Add(new($"<|{message.Role}|>\n", SegmentKind.Markup));
            AddMessage(segments, message, message.Content, EosToken);
            segments.Add(new("\n", SegmentKind.Markup));
        }

        if (addGenerationPrompt)
        {
            segments.Add(new($"<|{ChatMessage.Assistant}|>\n", SegmentKind.Markup));
        }
    }

    // The seed's "### Контекст: {context}\n### Ответ ассистента: {response}", with eos after each response so
    // the model learns to stop; a system message is folded into the next context; turns are joined by "\n".
    private void RenderContextResponse(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt, List<TemplateSegment> segments)
    {
        string? system = null;
        var afterAssistant = false;
        foreach (var message in messages)
        {
            switch (message.Role)
            {
                case ChatMessage.System:
                    system = system is null ? message.Content : $"{system}\n{message.Content}";
                    break;
                case ChatMessage.User:
                    segments.Add(new((afterAssistant ? "\n" : string.Empty) + ContextHeader, SegmentKind.Markup));
                    segments.Add(new(" " + (system is null ? message.Content : $"{system}\n{message.Content}"), SegmentKind.Content));
                    segments.Add(new("\n", SegmentKind.Markup));
                    system = null;
                    afterAssistant = false;
                    break;
                default:
                    segments.Add(new(ResponseHeader, SegmentKind.Markup));
                    AddMessage(segments, message, " " + message.Content, EosToken);
                    afterAssistant = true;
                    break;
            }
        }

        if (addGenerationPrompt)
        {
            segments.Add(new((afterAssistant ? "\n" : string.Empty) + ResponseHeader, SegmentKind.Markup));
        }
    }
}
