namespace Assistant.AppHost.Infrastructure;

/// <summary>Where local-mode servers keep their data and find their binaries.</summary>
internal sealed record LocalInfraPaths(string DataDirectory, string ToolsDirectory)
{
    public static LocalInfraPaths From(IDistributedApplicationBuilder builder)
    {
        var repositoryRoot = Path.GetFullPath(Path.Combine(builder.AppHostDirectory, ".."));
        var data = builder.Configuration["Infra:DataDir"] ?? Path.Combine(repositoryRoot, ".data");
        var tools = builder.Configuration["Infra:ToolsDir"] ?? Path.Combine(repositoryRoot, ".tools");
        return new LocalInfraPaths(Path.GetFullPath(data), Path.GetFullPath(tools));
    }

    public string For(string server) => Path.Combine(DataDirectory, server);

    public static string MissingDependencyHint =>
        "run infra/install-local-deps.sh (or ./run.sh, which runs it) to install the local servers";
}
