using Microsoft.Win32.SafeHandles;
using RegistryClient.Content;

namespace RegistryClient.Store;

/// <summary>
/// A blob's claim (<see cref="StateFiles.Claim"/>): the one process that may write the blob's partial file. Taken by
/// creating the file with O_EXCL, which is atomic on local file systems and NFS, unlike advisory locks that some file
/// systems grant to everyone. A claim whose owner is dead is moved aside by rename, which only one process can do, and
/// taken afresh.
/// </summary>
internal static class BlobClaim
{
    /// <summary>Takes the claim of <paramref name="digest"/> for <paramref name="owner"/>; false while a live process holds it.</summary>
    public static bool TryTake(ModelStore store, Digest digest, PartialOwner owner)
    {
        string claim = StateFiles.Claim(store, digest);
        string record = owner.Serialize();
        for (int attempt = 0; attempt < 3; attempt++)
        {
            try
            {
                using SafeFileHandle handle = File.OpenHandle(claim, FileMode.CreateNew, FileAccess.Write);
                RandomAccess.Write(handle, System.Text.Encoding.UTF8.GetBytes(record), 0);
                return true;
            }
            catch (IOException) when (File.Exists(claim))
            {
                string? holder = TryReadText(claim);
                if (holder == record)
                {
                    return true; // This process's own claim (another pull of it is checked by the caller).
                }

                if (PartialOwner.IsAlive(claim, claim))
                {
                    return false;
                }

                string aside = StateFiles.StaleClaim(claim, owner.Id);
                try
                {
                    File.Move(claim, aside);
                    File.Delete(aside);
                }
                catch (FileNotFoundException)
                {
                    return false; // Another process moved it first and holds the blob now.
                }
            }
        }

        return false;
    }

    /// <summary>Gives up the claim of <paramref name="digest"/> if <paramref name="owner"/> still holds it.</summary>
    public static void Release(ModelStore store, Digest digest, PartialOwner owner)
    {
        string claim = StateFiles.Claim(store, digest);
        if (TryReadText(claim) == owner.Serialize())
        {
            File.Delete(claim);
        }
    }

    /// <summary>Tells other processes the claim's holder is alive (for those on other hosts, which cannot see its process).</summary>
    public static void Touch(ModelStore store, Digest digest) => PartialOwner.Touch(StateFiles.Claim(store, digest));

    internal static string? TryReadText(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
