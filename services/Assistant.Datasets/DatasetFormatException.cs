namespace Assistant.Datasets;

/// <summary>A record or file that does not fit the dataset formats; <see cref="Code"/> is one of <see cref="DatasetProblemCodes"/>.</summary>
public sealed class DatasetFormatException : FormatException
{
    public DatasetFormatException(string code, string message, string? param = null, long line = 0)
        : base(line > 0 ? $"line {line}: {message}" : message)
    {
        Code = code;
        Param = param;
        Line = line;
        Reason = message;
    }

    /// <summary>The problem code, e.g. <c>missing_content</c>.</summary>
    public string Code { get; }

    /// <summary>The field at fault, e.g. <c>messages[1].content</c>.</summary>
    public string? Param { get; }

    /// <summary>The 1-based line, when the record came from a file; 0 otherwise.</summary>
    public long Line { get; }

    /// <summary>The message without the line prefix.</summary>
    public string Reason { get; }

    /// <summary>As a report entry.</summary>
    public DatasetProblem ToProblem() => new(Line, Code, Reason, Param);
}
