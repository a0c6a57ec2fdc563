using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;

namespace RegistryClient.Store;

/// <summary>
/// Hashes a file's bytes in place through a short-lived read-only mapping (Linux <c>mmap</c>), instead of copying
/// them out of the page cache with <c>pread</c> first: a pull hashes every byte it has just written, and the copy
/// would be a large share of its system time (see docs/performance.md).
/// </summary>
/// <remarks>
/// A mapping turns a failed disk read into SIGBUS instead of an error code, so this is only for bytes the process has
/// just written (still in the page cache); bytes that come from disk (a taken-over partial) are read with
/// <c>pread</c>. The file must not shrink while it is mapped: a partial is preallocated to its blob's size and only
/// its owner writes it.
/// </remarks>
internal static unsafe class FileMap
{
    private const int ProtRead = 1;
    private const int MapShared = 1;
    private const int MapPopulate = 0x8000; // set up all page table entries in the one call, rather than fault per page

    /// <summary>
    /// Appends bytes [<paramref name="offset"/>, +<paramref name="length"/>) of the file to <paramref name="hash"/>.
    /// False, with nothing appended, where they cannot be mapped (not Linux, a file system without mmap, no
    /// address space) or the file does not reach that far (touching a mapped page past the end is SIGBUS): the caller
    /// reads them instead.
    /// </summary>
    public static bool TryAppend(SafeFileHandle handle, long offset, int length, IncrementalHash hash)
    {
        if (!OperatingSystem.IsLinux() || length <= 0 || offset < 0 || offset + length > RandomAccess.GetLength(handle))
        {
            return false;
        }

        long aligned = offset & ~(Environment.SystemPageSize - 1L);
        nuint size = (nuint)(offset - aligned + length);
        nint view = NativeMethods.mmap(0, size, ProtRead, MapShared | MapPopulate, handle, aligned);
        if (view == -1)
        {
            return false;
        }

        try
        {
            hash.AppendData(new ReadOnlySpan<byte>((byte*)view + (offset - aligned), length));
        }
        finally
        {
            _ = NativeMethods.munmap(view, size);
        }

        return true;
    }

    private static class NativeMethods
    {
        [DllImport("libc", SetLastError = true)]
        public static extern nint mmap(nint address, nuint length, int protection, int flags, SafeFileHandle fd, long offset);

        [DllImport("libc", SetLastError = true)]
        public static extern int munmap(nint address, nuint length);
    }
}
