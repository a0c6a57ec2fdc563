using Microsoft.Extensions.Logging;
using RegistryClient.Names;
using RegistryClient.Remote;
using RegistryClient.Store;
using RegistryClient.Transfer;

namespace RegistryClient.Maintenance;

/// <summary>
/// Copies a model between registries and OCI layouts (<c>regc copy SRC DST</c>), as skopeo and oras copy do, through
/// the engines that pull, mirror and push, so both halves verify every blob and resume:
/// <list type="bullet">
/// <item>registry to registry: pulled into the local store, then pushed (on one registry, blobs are mounted across repositories); an index whole, every platform;</item>
/// <item>registry or layout to an OCI layout (<c>oci:DIR</c>): mirrored into it;</item>
/// <item>an OCI layout (<c>oci:DIR:REF</c>) to a registry: pushed from the layout.</item>
/// </list>
/// </summary>
public sealed class ModelCopier
{
    private readonly RemoteRegistry _registry;
    private readonly ModelStore _store;
    private readonly PullOptions? _pull;
    private readonly PushOptions? _push;
    private readonly ILoggerFactory? _loggers;

    /// <param name="registry">The registry client (both sides' credentials come from its options).</param>
    /// <param name="store">The local store a registry-to-registry copy goes through (and keeps the model in).</param>
    /// <param name="pull">How to pull; null means the defaults.</param>
    /// <param name="push">How to push; null means the defaults.</param>
    /// <param name="loggers">Loggers for the engines; null means none.</param>
    public ModelCopier(RemoteRegistry registry, ModelStore store, PullOptions? pull = null, PushOptions? push = null, ILoggerFactory? loggers = null)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(store);
        _registry = registry;
        _store = store;
        _pull = pull;
        _push = push;
        _loggers = loggers;
    }

    /// <summary>Copies <paramref name="source"/> to <paramref name="destination"/> (registry names, <c>oci:DIR:REF</c>, <c>oci:DIR</c>).</summary>
    /// <returns>The mirror's totals when the destination is a layout, the push's result when it is a registry.</returns>
    /// <exception cref="ArgumentException">A side is malformed, or the pair is not one this can copy.</exception>
    public async Task<CopyResult> CopyAsync(string source, string destination, IProgress<PullProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        if (IsOci(destination))
        {
            string dir = destination[ModelMirror.OciPrefix.Length..];
            if (dir.Length == 0 || dir.Contains(':', StringComparison.Ordinal))
            {
                throw new ArgumentException($"{destination}: the destination layout is oci:DIR (the model keeps its name inside it)");
            }

            MirrorResult mirrored = await new ModelMirror(_registry, _pull, _loggers?.CreateLogger<ModelPuller>())
                .MirrorAsync([source], new ModelStore(dir, StoreLayout.Oci), null, progress, cancellationToken).ConfigureAwait(false);
            return new CopyResult(mirrored, null);
        }

        var target = ModelName.Parse(destination);
        ModelStore from;
        ModelName model;
        if (IsOci(source))
        {
            (string dir, string reference) = ModelMirror.SplitOci(source);
            from = Directory.Exists(dir) ? ModelStore.Open(dir) : throw new DirectoryNotFoundException($"the source layout {Path.GetFullPath(dir)} does not exist");
            model = from.FindByLayoutReference(reference) ?? ModelName.Parse(reference);
        }
        else
        {
            from = _store;
            model = ModelName.Parse(source);
            // A multi-platform index is copied whole: every platform's manifest and blobs, as a mirror keeps them.
            PullOptions whole = (_pull ?? new PullOptions()) with { WholeIndex = true };
            await new ModelPuller(_registry, _store, whole, _loggers?.CreateLogger<ModelPuller>()).PullAsync([model], progress, cancellationToken).ConfigureAwait(false);
        }

        PushResult pushed = await new ModelPusher(_registry, from, _push, _loggers?.CreateLogger<ModelPusher>())
            .PushAsync(model, target, progress, cancellationToken).ConfigureAwait(false);
        return new CopyResult(null, pushed);
    }

    private static bool IsOci(string reference) => reference.StartsWith(ModelMirror.OciPrefix, StringComparison.Ordinal);
}

/// <summary>What a copy did: a mirror into an OCI layout, or a push to a registry.</summary>
/// <param name="Mirrored">The mirror's totals when the destination was a layout.</param>
/// <param name="Pushed">The push's result when the destination was a registry.</param>
public sealed record CopyResult(MirrorResult? Mirrored, PushResult? Pushed);
