namespace Assistant.Platform.Persistence;

/// <summary>A platform-wide switch an operator sets through the API (e.g. paused dispatch), kept with who set it and when.</summary>
public sealed class PlatformSetting
{
    public required string Key { get; set; }
    /// <summary>The value as JSON.</summary>
    public required string Value { get; set; }
    public required string UpdatedBy { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
}
