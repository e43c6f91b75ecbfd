namespace Assistant.Tokenization;

/// <summary>Which family a Hugging Face <c>tokenizer.json</c> BPE belongs to.</summary>
internal enum BpeFamily
{
    /// <summary>GPT-2 style: bytes mapped to printable characters, regex pre-tokenizer (GPT-2, Llama 3, Qwen, Falcon).</summary>
    ByteLevel,

    /// <summary>SentencePiece converted to BPE: spaces as '▁', a dummy prefix, byte fallback (Llama 2, Mistral, TinyLlama).</summary>
    SentencePiece,
}
