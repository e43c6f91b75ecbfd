using System.Diagnostics;

namespace Assistant.AppHost.Infrastructure;

/// <summary>How Postgres, Redis and the S3 store run. Service code is the same in every mode.</summary>
public enum InfraMode
{
    /// <summary>Containers when a Docker engine answers (always when publishing), else local executables.</summary>
    Auto,
    /// <summary>Postgres, Redis and MinIO containers: the normal Aspire path.</summary>
    Containers,
    /// <summary>The same servers as local executables (OS packages, and an npm S3 server).</summary>
    Local,
    /// <summary>Connection strings from configuration (<c>ConnectionStrings:assistantdb|redis|s3</c>).</summary>
    External,
}

internal static class InfraModeResolver
{
    public static InfraMode Resolve(IDistributedApplicationBuilder builder)
    {
        var configured = builder.Configuration["Infra"] ?? "auto";
        if (!Enum.TryParse<InfraMode>(configured, ignoreCase: true, out var mode))
        {
            throw new InvalidOperationException(
                $"Infra='{configured}' is not a mode; use containers, local, external or auto.");
        }
        if (mode != InfraMode.Auto)
        {
            return mode;
        }
        return builder.ExecutionContext.IsPublishMode || DockerEngineAnswers() ? InfraMode.Containers : InfraMode.Local;
    }

    /// <summary>The docker client is often installed without an engine; only <c>docker info</c> tells.</summary>
    private static bool DockerEngineAnswers()
    {
        try
        {
            using var docker = Process.Start(new ProcessStartInfo("docker", "info --format {{.ServerVersion}}")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            });
            if (docker is null)
            {
                return false;
            }
            if (!docker.WaitForExit(TimeSpan.FromSeconds(10)))
            {
                docker.Kill(entireProcessTree: true);
                return false;
            }
            return docker.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false; // no docker client at all
        }
    }
}
