namespace Assistant.Tokenization;

/// <summary>One turn of a conversation. Roles are <see cref="System"/>, <see cref="User"/> and <see cref="Assistant"/>.</summary>
public sealed record ChatMessage(string Role, string Content)
{
    /// <summary>Instructions that frame the conversation.</summary>
    public const string System = "system";

    /// <summary>What the person says.</summary>
    public const string User = "user";

    /// <summary>What the model says; the tokens training learns from.</summary>
    public const string Assistant = "assistant";

    /// <summary>A system message.</summary>
    public static ChatMessage FromSystem(string content) => new(System, content);

    /// <summary>A user message.</summary>
    public static ChatMessage FromUser(string content) => new(User, content);

    /// <summary>An assistant message.</summary>
    public static ChatMessage FromAssistant(string content) => new(Assistant, content);
}
