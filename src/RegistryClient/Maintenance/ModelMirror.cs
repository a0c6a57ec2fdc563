using Microsoft.Extensions.Logging;
using RegistryClient.Names;
using RegistryClient.Remote;
using RegistryClient.Store;
using RegistryClient.Transfer;

namespace RegistryClient.Maintenance;

/// <summary>
/// Mirrors models into a store or an OCI layout: from registries (many models through one worker pool, each blob once,
/// an index kept whole with every platform, resumable like a pull), from a local store, or from OCI layouts
/// (<c>oci:DIR:REF</c>, read without network). Every blob is verified before it is kept.
/// </summary>
/// <remarks>Immutable; one instance can run several mirrors.</remarks>
public sealed class ModelMirror
{
    /// <summary>The prefix of a reference into an OCI layout: <c>oci:DIR:REF</c>.</summary>
    public const string OciPrefix = "oci:";

    private readonly RemoteRegistry _registry;
    private readonly PullOptions _options;
    private readonly ILogger<ModelPuller>? _logger;

    /// <summary>Creates a mirror that reads registries through <paramref name="registry"/>.</summary>
    /// <param name="registry">The registry client.</param>
    /// <param name="options">How blobs are transferred; null means the defaults. An index is always kept whole.</param>
    /// <param name="logger">Logger of the pulls; null means none.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range; the message names it.</exception>
    public ModelMirror(RemoteRegistry registry, PullOptions? options = null, ILogger<ModelPuller>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(registry);
        _registry = registry;
        _options = (options ?? new PullOptions()) with { WholeIndex = true };
        _options.Validate();
        _logger = logger;
    }

    /// <summary>
    /// Mirrors <paramref name="references"/> into <paramref name="target"/>: registry names, and <c>oci:DIR:REF</c>
    /// references into OCI layouts; with <see cref="MirrorOptions.FromStore"/>, names in that store (none: all of them).
    /// </summary>
    /// <param name="references">What to mirror.</param>
    /// <param name="target">Where to: an Ollama store or an OCI layout.</param>
    /// <param name="options">Tag expansion, local source, what to do on a failure; null means the defaults.</param>
    /// <param name="progress">Receives the registry pulls' progress, as a pull's; null means none.</param>
    /// <param name="cancellationToken">Cancels the mirror; what was verified and stored stays.</param>
    /// <returns>The totals, and with <see cref="MirrorOptions.KeepGoing"/> one entry per failed model.</returns>
    /// <exception cref="ArgumentException">Nothing to mirror, or a malformed <c>oci:</c> reference.</exception>
    /// <exception cref="InvalidModelNameException">A registry name is malformed.</exception>
    /// <exception cref="DirectoryNotFoundException">A local source does not exist.</exception>
    public async Task<MirrorResult> MirrorAsync(
        IReadOnlyList<string> references, ModelStore target, MirrorOptions? options = null, IProgress<PullProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(references);
        ArgumentNullException.ThrowIfNull(target);
        options ??= new MirrorOptions();
        var result = new MirrorResult(_registry.TimeProvider);
        var remaining = new List<string>(references);

        // Local sources: a store, and oci:DIR:REF references.
        if (options.FromStore is { } sourceRoot)
        {
            result.Add(await new StoreCopier(OpenLocal(sourceRoot), target).CopyAsync(remaining, cancellationToken).ConfigureAwait(false));
            remaining.Clear();
        }

        foreach (IGrouping<string, (string Dir, string Ref)> group in remaining.Where(IsOci).Select(SplitOci).GroupBy(o => o.Dir).ToArray())
        {
            result.Add(await new StoreCopier(OpenLocal(group.Key), target).CopyAsync(group.Select(g => g.Ref).ToArray(), cancellationToken).ConfigureAwait(false));
        }

        ModelName[] remote = remaining.Where(r => !IsOci(r)).Select(ModelName.Parse).ToArray();
        if (remote.Length > 0)
        {
            if (options.AllTags)
            {
                remote = await ExpandTagsAsync(remote, options.KeepGoing ? result : null, cancellationToken).ConfigureAwait(false);
            }

            await PullAllAsync(target, remote, options.KeepGoing, result, progress, cancellationToken).ConfigureAwait(false);
        }

        if (result.Models == 0 && result.Failures.Count == 0)
        {
            throw new ArgumentException("name at least one model, or a local store to mirror from");
        }

        return result.Finish();
    }

    /// <summary>Pulls all models through one pool; to keep going after a failure, each model alone (finished blobs stay).</summary>
    private async Task PullAllAsync(ModelStore target, ModelName[] names, bool keepGoing, MirrorResult result, IProgress<PullProgress>? progress, CancellationToken cancellationToken)
    {
        var puller = new ModelPuller(_registry, target, _options, _logger);
        try
        {
            result.Add(await puller.PullAsync(names, progress, cancellationToken).ConfigureAwait(false));
            return;
        }
        catch (Exception e) when (keepGoing && names.Length > 1 && e is not OperationCanceledException && e is not StoreException)
        {
            result.Warnings.Add($"{e.Message}; mirroring the models one by one");
        }

        foreach (ModelName name in names)
        {
            try
            {
                result.Add(await puller.PullAsync([name], progress, cancellationToken).ConfigureAwait(false));
            }
            catch (Exception e) when (e is not OperationCanceledException && e is not StoreException)
            {
                result.Failures.Add(new MirrorFailure(name.DisplayName, e.Message));
            }
        }
    }

    /// <summary>Every tag of each repository; with <paramref name="failures"/>, a repository that cannot be listed is noted there and skipped.</summary>
    private async Task<ModelName[]> ExpandTagsAsync(ModelName[] names, MirrorResult? failures, CancellationToken cancellationToken)
    {
        var expanded = new List<ModelName>();
        foreach (ModelName name in names.DistinctBy(n => $"{n.Host}/{n.Repository}".ToLowerInvariant()))
        {
            try
            {
                IReadOnlyList<string> tags = await _registry.ListTagsAsync(name, cancellationToken).ConfigureAwait(false);
                expanded.AddRange(tags.Select(tag => name.WithTag(tag)));
            }
            catch (Exception e) when (failures is not null && e is not OperationCanceledException)
            {
                failures.Failures.Add(new MirrorFailure($"{name.Host}/{name.Repository}", e.Message));
            }
        }

        return [.. expanded];
    }

    private static bool IsOci(string reference) => reference.StartsWith(OciPrefix, StringComparison.Ordinal);

    /// <summary><c>oci:DIR:REF</c>: the folder ends at the first colon after the prefix, as in skopeo.</summary>
    internal static (string Dir, string Ref) SplitOci(string reference)
    {
        string rest = reference[OciPrefix.Length..];
        int colon = rest.IndexOf(':', StringComparison.Ordinal);
        return colon <= 0 || colon == rest.Length - 1
            ? throw new ArgumentException($"{reference}: expected oci:DIR:REF, such as oci:/media/usb/models:library/llama3.2:latest")
            : (rest[..colon], rest[(colon + 1)..]);
    }

    /// <summary>A local store to read: an OCI layout when it has an oci-layout file, else an Ollama store.</summary>
    private static ModelStore OpenLocal(string root) => Directory.Exists(root)
        ? ModelStore.Open(root)
        : throw new DirectoryNotFoundException($"the source store {Path.GetFullPath(root)} does not exist");
}
