using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace RegistryClient.Store;

/// <summary>
/// A second handle on a partial file that bypasses the page cache (Linux <c>O_DIRECT</c>), for whole aligned blocks
/// held in memory that does not move. Downloaded bytes then go from the receive buffer to the disk without being
/// copied into new page-cache pages: on a VM whose host takes freed guest memory back, every new cache page faults
/// into the host, and those copies were a pull's largest kernel cost (see docs/performance.md).
/// </summary>
/// <remarks>
/// Anything unaligned, and every file system that refuses <c>O_DIRECT</c>, goes through the ordinary handle; Linux
/// keeps the two coherent (a direct write writes back and drops cached pages of its range first). Bytes written this
/// way are not in the page cache: read them back with <c>pread</c>, never through a mapping (a failed disk read in a
/// mapping is SIGBUS, not an error code).
/// </remarks>
internal static class DirectIo
{
    /// <summary>Offsets, lengths and memory addresses of direct writes are multiples of this (the page size, which covers common logical block sizes).</summary>
    public const int Alignment = 4096;

    private const int ReadWrite = 0x2;
    private const int CloseOnExec = 0x80000;
    private const int InvalidArgument = 22;

    /// <summary>True where direct handles exist at all (Linux on x64 or Arm).</summary>
    public static bool Supported { get; } = OperatingSystem.IsLinux() && DirectFlag != 0;

    /// <summary>O_DIRECT differs between Linux architectures.</summary>
    private static int DirectFlag => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 or Architecture.X86 => 0x4000,
        Architecture.Arm64 or Architecture.Arm => 0x10000,
        _ => 0,
    };

    /// <summary>Opens <paramref name="path"/> (which exists) for direct writes; null where that is not possible (tmpfs on older kernels, some network file systems).</summary>
    public static SafeFileHandle? TryOpen(string path)
    {
        if (!Supported)
        {
            return null;
        }

        int fd = NativeMethods.open(path, ReadWrite | CloseOnExec | DirectFlag);
        return fd < 0 ? null : new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>
    /// Splits <paramref name="length"/> bytes at file offset <paramref name="offset"/>, held at memory address
    /// <paramref name="address"/>, into an unaligned head, an aligned middle (possibly empty) and the rest. The middle
    /// can go direct only when the address and the offset agree modulo <see cref="Alignment"/>.
    /// </summary>
    public static (int Head, int Middle) Split(nint address, long offset, int length)
    {
        if (((address ^ (nint)offset) & (Alignment - 1)) != 0)
        {
            return (length, 0);
        }

        int head = (int)Math.Min((Alignment - (offset & (Alignment - 1))) & (Alignment - 1), length);
        int middle = (length - head) & ~(Alignment - 1);
        return (head, middle);
    }

    /// <summary>True for the error a direct write gives when the file system or device refuses it (EINVAL): fall back to the page cache.</summary>
    public static bool IsRefusal(IOException e) =>
        e.HResult == InvalidArgument || e.Message.Contains("Invalid argument", StringComparison.Ordinal);

    private static class NativeMethods
    {
        [DllImport("libc", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
#pragma warning disable CA2101 // the path is marshalled as UTF-8 bytes, which is what Linux takes
        public static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);
#pragma warning restore CA2101
    }
}
