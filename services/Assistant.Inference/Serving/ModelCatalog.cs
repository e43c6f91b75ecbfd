using System.Text.Json.Nodes;
using Assistant.Platform.Models;
using Assistant.Platform.Storage;

namespace Assistant.Inference.Serving;

/// <summary>A version the followed alias points at, and where its files are.</summary>
internal sealed record CatalogVersion(ModelVersionInfo Info, string ArtifactPrefix);

/// <summary>What the alias follower needs from the registry: which versions the alias points at, and their files.</summary>
internal interface IModelCatalog
{
    /// <summary>The versions <paramref name="alias"/> points at for <paramref name="models"/> (every model that has it when empty).</summary>
    Task<IReadOnlyList<CatalogVersion>> ResolveAsync(string alias, IReadOnlyList<string> models, CancellationToken cancellationToken);

    /// <summary>The version <paramref name="reference"/> (<c>name@N</c> or <c>name:alias</c>) names; null when the registry has no such model, version or alias.</summary>
    Task<CatalogVersion?> FindAsync(string reference, CancellationToken cancellationToken);

    /// <summary>Writes the version's Hugging Face folder to <paramref name="folder"/>.</summary>
    Task DownloadAsync(CatalogVersion version, string folder, CancellationToken cancellationToken);
}

/// <summary>The model registry in Postgres and the version folders in S3.</summary>
internal sealed class RegistryCatalog(IServiceScopeFactory scopes, ArtifactStore artifacts) : IModelCatalog
{
    public async Task<IReadOnlyList<CatalogVersion>> ResolveAsync(string alias, IReadOnlyList<string> models, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var registry = scope.ServiceProvider.GetRequiredService<ModelRegistry>();
        var versions = new List<ModelVersion>();
        if (models.Count == 0)
        {
            versions.AddRange(await registry.ListAliasTargetsAsync(alias, cancellationToken));
        }
        else
        {
            foreach (var name in models)
            {
                try
                {
                    versions.Add(await registry.ResolveAsync($"{name}:{alias}", cancellationToken, "Inference:Models"));
                }
                catch (ModelRegistryException e) when (e.NotFound)
                {
                    // Not deployed under this alias (yet): nothing to serve for it.
                }
            }
        }

        var found = new List<CatalogVersion>();
        foreach (var version in versions) found.Add(await DescribeAsync(registry, version, alias, cancellationToken));
        return found;
    }

    public async Task<CatalogVersion?> FindAsync(string reference, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var registry = scope.ServiceProvider.GetRequiredService<ModelRegistry>();
        ModelVersion version;
        try
        {
            version = await registry.ResolveAsync(reference, cancellationToken, "model");
        }
        catch (ModelRegistryException)
        {
            return null; // no such model, version or alias, or not a reference at all
        }
        ModelRegistry.TryParseReference(reference, out _, out _, out var alias);
        return await DescribeAsync(registry, version, alias, cancellationToken);
    }

    static async Task<CatalogVersion> DescribeAsync(ModelRegistry registry, ModelVersion version, string? alias, CancellationToken cancellationToken)
    {
        ModelVersion? parent = null;
        if (version.BaseModelVersionId is Guid baseId)
        {
            try
            {
                parent = await registry.GetVersionAsync(baseId, cancellationToken);
            }
            catch (ModelRegistryException e) when (e.NotFound)
            {
            }
        }
        var datasets = JsonNode.Parse(version.DatasetVersions) is JsonArray { Count: > 0 } list ? list : null;
        var lineage = new ModelLineage(version.Source, parent is null ? null : $"{parent.Model!.Name}@{parent.Version}", parent?.Model!.Name, version.JobId, datasets);
        return new CatalogVersion(new ModelVersionInfo(version.Model!.Name, version.Version, alias, version.CreatedAt, lineage), version.ArtifactPrefix);
    }

    public async Task DownloadAsync(CatalogVersion version, string folder, CancellationToken cancellationToken)
    {
        if (await artifacts.DownloadFolderAsync(version.ArtifactPrefix, folder, cancellationToken) == 0)
            throw new InvalidDataException($"{version.Info.Root} has no files under '{version.ArtifactPrefix}' in the object store.");
    }
}

/// <summary>
/// Downloaded versions on local disk, one folder per <c>name@version</c>. A download lands in a hidden folder and is renamed
/// when whole, so a folder under its real name is always complete and is reused (a restarted replica skips the download).
/// </summary>
internal sealed class ModelCache(string root, ILogger logger)
{
    public string Root => root;

    public async Task<string> FetchAsync(CatalogVersion version, IModelCatalog catalog, CancellationToken cancellationToken)
    {
        var folder = Path.Combine(root, version.Info.Root);
        if (Directory.Exists(folder)) return folder;
        Directory.CreateDirectory(root);
        var partial = Path.Combine(root, $".{version.Info.Root}.{Guid.NewGuid():N}");
        try
        {
            await catalog.DownloadAsync(version, partial, cancellationToken);
            Directory.Move(partial, folder);
        }
        catch
        {
            TryDelete(partial);
            throw;
        }
        return folder;
    }

    /// <summary>Deletes every folder but <paramref name="keep"/>: weights are in memory once loaded, so only versions about to load need theirs.</summary>
    public void Prune(IReadOnlySet<string> keep)
    {
        if (!Directory.Exists(root)) return;
        foreach (var folder in Directory.EnumerateDirectories(root))
            if (!keep.Contains(Path.GetFileName(folder))) TryDelete(folder);
    }

    /// <summary>Deletes the folder of <paramref name="version"/> (<c>name@version</c>), if there is one.</summary>
    public void Remove(string version) => TryDelete(Path.Combine(root, version));

    void TryDelete(string folder)
    {
        try
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning(e, "Could not delete {Folder} from the model cache", folder);
        }
    }
}
