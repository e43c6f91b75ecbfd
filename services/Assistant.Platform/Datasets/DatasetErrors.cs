using Assistant.Datasets;

namespace Assistant.Platform.Datasets;

/// <summary>A request a user can fix: names the field (<see cref="Param"/>) and what is wrong with it.</summary>
public sealed class DatasetRequestException(string param, string message) : Exception(message)
{
    public string Param { get; } = param;
}

/// <summary>The file is not a valid dataset; the report lists the problems by line. Nothing was stored.</summary>
public sealed class DatasetInvalidException(ValidationReport report)
    : Exception($"The dataset has {report.ProblemCount} problem(s).")
{
    public ValidationReport Report { get; } = report;
}

public sealed class DatasetNotFoundException(string what) : Exception($"{what} was not found.");

/// <summary>The request conflicts with the state of the data (e.g. deleting a version a job uses).</summary>
public sealed class DatasetConflictException(string message) : Exception(message);
