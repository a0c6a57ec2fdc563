using RegistryClient.Content;

namespace RegistryClient.Store;

/// <summary>
/// The names of the files this project keeps for blobs being downloaded, in <c>&lt;store&gt;/.regc/partial/</c>; the one
/// place that spells them:
/// <c>sha256-&lt;hex&gt;.&lt;owner&gt;.partial</c> (the bytes), <c>….marker</c> (its resume journal), <c>….owner</c>
/// (who writes it), and per blob <c>sha256-&lt;hex&gt;.claim</c> (which process may write it at all).
/// </summary>
internal static class StateFiles
{
    /// <summary>The partial file's extension.</summary>
    public const string PartialExtension = ".partial";

    /// <summary>The resume journal's extension.</summary>
    public const string JournalExtension = ".marker";

    /// <summary>The owner record's extension.</summary>
    public const string OwnerExtension = ".owner";

    /// <summary>The blob claim's extension.</summary>
    public const string ClaimExtension = ".claim";

    /// <summary>
    /// Where the upload of <paramref name="digest"/> to <paramref name="repository"/> on <paramref name="host"/> is
    /// recorded while it runs: <c>.regc/push/&lt;host&gt;/&lt;repository&gt;/sha256-&lt;hex&gt;</c> (a port's colon spelled <c>_</c>).
    /// </summary>
    public static string UploadRecord(ModelStore store, string host, string repository, Digest digest) =>
        Path.Combine(store.UploadsDirectory, host.Replace(':', '_'), repository, digest.FileName);

    /// <summary>The partial file of <paramref name="digest"/> written by the owner <paramref name="ownerId"/>.</summary>
    public static string Partial(ModelStore store, Digest digest, string ownerId) =>
        Path.Combine(store.PartialDirectory, $"{digest.FileName}.{ownerId}{PartialExtension}");

    /// <summary>The resume journal beside a partial file.</summary>
    public static string Journal(string partialPath) => Path.ChangeExtension(partialPath, JournalExtension);

    /// <summary>The owner record beside a partial file.</summary>
    public static string Owner(string partialPath) => Path.ChangeExtension(partialPath, OwnerExtension);

    /// <summary>The claim of a blob: the process holding it is the only one that writes the blob's partial.</summary>
    public static string Claim(ModelStore store, Digest digest) => Path.Combine(store.PartialDirectory, digest.FileName + ClaimExtension);

    /// <summary>Where a stale claim is moved aside by <paramref name="ownerId"/> before it is deleted (a rename only one process wins).</summary>
    public static string StaleClaim(string claimPath, string ownerId) => $"{claimPath}.{ownerId}.stale";

    /// <summary>A file pattern for every partial file of <paramref name="digest"/>, whoever owns it.</summary>
    public static string PartialsOf(Digest digest) => $"{digest.FileName}.*{PartialExtension}";

    /// <summary>A file pattern for every partial file in the folder.</summary>
    public const string AnyPartial = "*" + PartialExtension;

    /// <summary>True for a partial file's path.</summary>
    public static bool IsPartial(string path) => path.EndsWith(PartialExtension, StringComparison.Ordinal);

    /// <summary>
    /// The blob and owner a partial file's name stands for (<c>sha256-&lt;hex&gt;.&lt;owner&gt;.partial</c>, the owner an id of
    /// <see cref="PartialOwner.IsValidId"/>'s form); false for any other name.
    /// </summary>
    public static bool TryParsePartial(string path, out Digest digest, out string ownerId)
    {
        string name = Path.GetFileName(path);
        ownerId = string.Empty;
        digest = default;
        const int DigestNameLength = 71; // sha256- and 64 hex digits
        if (!IsPartial(name) || name.Length <= DigestNameLength + 1 + PartialExtension.Length || name[DigestNameLength] != '.'
            || !Digest.TryParseFileName(name.AsSpan(0, DigestNameLength), out digest))
        {
            return false;
        }

        ownerId = name[(DigestNameLength + 1)..^PartialExtension.Length];
        return PartialOwner.IsValidId(ownerId);
    }
}
