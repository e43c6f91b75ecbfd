using System.Reflection;

namespace Assistant.Platform;

/// <summary>The build that is running: the informational version stamped with the git commit (Directory.Build.props).</summary>
public static class PlatformBuild
{
    /// <summary>Recorded in every model version's lineage, so a model names the code that trained it.</summary>
    public static string Version { get; } =
        typeof(PlatformBuild).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
}
