using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace RegistryClient.Store;

/// <summary>
/// Gives the kernel back the cached pages of partial-file bytes that are on disk and hashed already, so a pull's
/// page-cache footprint stays near its hash window and new writes reuse recently freed pages. On a VM whose host
/// takes freed guest memory back (a balloon with free page reporting), every never-used page faults into the host
/// on its first write; recycling the same pages avoids most of that (see docs/performance.md).
/// </summary>
internal static class PageCache
{
    private const int DontNeed = 4; // POSIX_FADV_DONTNEED on Linux

    /// <summary>Drops the clean cached pages of bytes [<paramref name="offset"/>, +<paramref name="length"/>); advisory, errors ignored.</summary>
    public static void Drop(SafeFileHandle handle, long offset, long length)
    {
        if (OperatingSystem.IsLinux() && length > 0 && !handle.IsClosed)
        {
            _ = NativeMethods.posix_fadvise(handle, offset, length, DontNeed);
        }
    }

    private static class NativeMethods
    {
        [DllImport("libc")]
        public static extern int posix_fadvise(SafeFileHandle fd, long offset, long length, int advice);
    }
}
