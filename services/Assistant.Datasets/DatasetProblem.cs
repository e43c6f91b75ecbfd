namespace Assistant.Datasets;

/// <summary>
/// One thing wrong with a dataset file: the 1-based line (0 for the whole file), a stable code from
/// <see cref="DatasetProblemCodes"/>, a message for people and the field at fault (e.g. <c>messages[2].role</c>).
/// </summary>
public sealed record DatasetProblem(long Line, string Code, string Message, string? Param);

/// <summary>
/// The problem codes. OpenAI's fine-tuning validator's where they fit (<c>data_type</c> ... <c>example_missing_assistant_message</c>),
/// the platform's own for the rest.
/// </summary>
public static class DatasetProblemCodes
{
    /// <summary>The line is JSON but not an object, or a field has the wrong JSON type (<c>Param</c> names it).</summary>
    public const string DataType = "data_type";

    /// <summary>A chat record without a non-empty <c>messages</c> array.</summary>
    public const string MissingMessagesList = "missing_messages_list";

    /// <summary>A message without <c>role</c> or <c>content</c>.</summary>
    public const string MessageMissingKey = "message_missing_key";

    /// <summary>A message with a key other than <c>role</c> and <c>content</c>.</summary>
    public const string MessageUnrecognizedKey = "message_unrecognized_key";

    /// <summary>A role other than system, user, assistant.</summary>
    public const string UnrecognizedRole = "unrecognized_role";

    /// <summary>A message whose content is null, empty or not a string.</summary>
    public const string MissingContent = "missing_content";

    /// <summary>A conversation with no assistant message to learn from.</summary>
    public const string ExampleMissingAssistantMessage = "example_missing_assistant_message";

    /// <summary>The line is not valid JSON (truncated, trailing text, a NUL byte...).</summary>
    public const string InvalidJson = "invalid_json";

    /// <summary>The line is not valid UTF-8 (binary data, another encoding).</summary>
    public const string InvalidUtf8 = "invalid_utf8";

    /// <summary>The file holds no records.</summary>
    public const string EmptyFile = "empty_file";

    /// <summary>A record in another format than the dataset's.</summary>
    public const string MixedFormats = "mixed_formats";

    /// <summary>A record longer than <see cref="ValidationOptions.MaxLength"/> tokens (only with <see cref="ValidationOptions.RejectOverMaxLength"/>).</summary>
    public const string TooLong = "too_long";

    /// <summary>A record equal to an earlier one (only with <see cref="ValidationOptions.RejectDuplicates"/>).</summary>
    public const string DuplicateExample = "duplicate_example";

    /// <summary>A required field of a flat format is absent or null (e.g. a prompt without a completion).</summary>
    public const string MissingField = "missing_field";

    /// <summary>A required field of a flat format is an empty string.</summary>
    public const string EmptyField = "empty_field";

    /// <summary>A JSON object whose keys match no format, or more than one.</summary>
    public const string UnknownFormat = "unknown_format";

    /// <summary>A line longer than <see cref="ValidationOptions.MaxLineBytes"/>; it is skipped without being buffered.</summary>
    public const string LineTooLong = "line_too_long";

    /// <summary>A file the raw text chunker cannot read (not .txt, .md or .zip).</summary>
    public const string UnsupportedFileType = "unsupported_file_type";
}
