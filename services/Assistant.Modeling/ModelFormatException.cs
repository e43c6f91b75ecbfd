namespace Assistant.Modeling;

/// <summary>
/// A model folder, config or checkpoint that this code cannot use as it is: the message names the
/// file, key or tensor at fault so a user can fix it without reading a stack trace.
/// </summary>
public sealed class ModelFormatException(string message, Exception? innerException = null)
    : Exception(message, innerException);
