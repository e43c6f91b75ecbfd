namespace Assistant.Tokenization;

/// <summary>The conversation layouts <see cref="ChatTemplate"/> renders.</summary>
public enum ChatTemplateFormat
{
    /// <summary><c>&lt;|im_start|&gt;role\n...&lt;|im_end|&gt;\n</c> (OpenAI ChatML; Qwen, SmolLM, this platform's starter model). The default.</summary>
    ChatML,

    /// <summary><c>&lt;s&gt;[INST] &lt;&lt;SYS&gt;&gt;\n...\n&lt;&lt;/SYS&gt;&gt;\n\n... [/INST] ... &lt;/s&gt;</c> (Llama 2 chat, Mistral instruct).</summary>
    Llama2,

    /// <summary><c>&lt;|start_header_id|&gt;role&lt;|end_header_id|&gt;\n\n...&lt;|eot_id|&gt;</c> (Llama 3).</summary>
    Llama3,

    /// <summary><c>&lt;|user|&gt;\n...&lt;/s&gt;\n&lt;|assistant|&gt;\n...&lt;/s&gt;\n</c> (Zephyr, TinyLlama chat).</summary>
    Zephyr,

    /// <summary><c>### Контекст: {context}\n### Ответ ассистента: {response}</c>, the seed data's format for {"context","response"} records.</summary>
    ContextResponse,
}
