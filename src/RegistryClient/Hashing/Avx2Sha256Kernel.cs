using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace RegistryClient.Hashing;

/// <summary>
/// The SHA-256 compression function on eight independent messages at once, one in each 32-bit lane of AVX2
/// vectors (with AVX-512VL's rotates and three-input logic where the CPU has them). On a CPU without SHA
/// extensions one core hashes eight streams several times as fast together as OpenSSL hashes one; with SHA extensions
/// the two are about even (figures in docs/performance.md). Pure and thread-safe: the caller owns the state.
/// </summary>
/// <remarks>FIPS 180-4 §6.2; checked against <see cref="System.Security.Cryptography.SHA256"/> by the tests.</remarks>
internal static class Avx2Sha256Kernel
{
    /// <summary>Messages hashed side by side.</summary>
    public const int Lanes = 8;

    /// <summary>Bytes of one SHA-256 block.</summary>
    public const int BlockSize = 64;

    /// <summary>32-bit words of a SHA-256 state.</summary>
    public const int StateWords = 8;

    private static readonly uint[] s_k =
    [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ];

    /// <summary>True when this CPU runs the eight-lane kernel (AVX2).</summary>
    public static bool IsSupported => Avx2.IsSupported;

    /// <summary>
    /// True when the lanes beat OpenSSL here: the kernel runs, and OpenSSL hashes without SHA extensions (the CPU
    /// lacks them, or <c>OPENSSL_ia32cap</c> masks them, which .NET's crypto honours too). With SHA extensions one
    /// OpenSSL stream is about as fast as eight lanes, and lanes run part-full cost more.
    /// </summary>
    public static bool BeatsOpenSsl => IsSupported && !OpenSslUsesShaExtensions();

    private static bool OpenSslUsesShaExtensions()
    {
        const uint ShaBit = 1u << 29; // CPUID.(EAX=7,ECX=0):EBX.SHA, also bit 29 of OpenSSL's second capability word
        if (!X86Base.IsSupported || ((uint)X86Base.CpuId(7, 0).Ebx & ShaBit) == 0)
        {
            return false;
        }

        // OPENSSL_ia32cap="<first>:<second>", where "~<hex>" clears the bits given.
        string? caps = Environment.GetEnvironmentVariable("OPENSSL_ia32cap");
        int colon = caps?.IndexOf(':', StringComparison.Ordinal) ?? -1;
        if (colon < 0 || caps!.Length <= colon + 1 || caps[colon + 1] != '~')
        {
            return true;
        }

        ReadOnlySpan<char> hex = caps.AsSpan(colon + 2);
        hex = hex.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? hex[2..] : hex;
        return !(ulong.TryParse(hex, System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture, out ulong masked) && (masked & ShaBit) != 0);
    }

    /// <summary>Writes the SHA-256 initial hash value (FIPS 180-4 §5.3.3) into <paramref name="state"/>.</summary>
    public static void Initialize(Span<uint> state)
    {
        ReadOnlySpan<uint> iv = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
        iv.CopyTo(state);
    }

    /// <summary>
    /// Runs <paramref name="blocks"/> blocks of each lane's bytes through that lane's state. <paramref name="state"/>
    /// holds the eight states word by word (word w of lane l at <c>w * 8 + l</c>); <paramref name="lanes"/> holds
    /// eight byte ranges of at least <paramref name="blocks"/> blocks each (a lane without work may repeat another's).
    /// </summary>
    /// <remarks>
    /// The rounds are bound by the latency of their dependency chain, not by vector width: four lanes in 128-bit
    /// vectors cost most of what eight do, so an idle lane is cheap but a narrower kernel is not worth having.
    /// </remarks>
    /// <exception cref="ArgumentException">A span is too short.</exception>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Compress(Span<uint> state, ReadOnlySpan<ReadOnlyMemory<byte>> lanes, int blocks)
    {
        if (!IsSupported)
        {
            throw new PlatformNotSupportedException("the eight-lane SHA-256 needs AVX2");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(state.Length, Lanes * StateWords, nameof(state));
        ArgumentOutOfRangeException.ThrowIfLessThan(lanes.Length, Lanes, nameof(lanes));
        ArgumentOutOfRangeException.ThrowIfNegative(blocks);
        long length = (long)blocks * BlockSize;
        for (int l = 0; l < Lanes; l++)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(lanes[l].Length, length, nameof(lanes));
        }

        // Lengths checked above: every load below stays within its lane's range.
        ref byte p0 = ref MemoryMarshal.GetReference(lanes[0].Span), p1 = ref MemoryMarshal.GetReference(lanes[1].Span);
        ref byte p2 = ref MemoryMarshal.GetReference(lanes[2].Span), p3 = ref MemoryMarshal.GetReference(lanes[3].Span);
        ref byte p4 = ref MemoryMarshal.GetReference(lanes[4].Span), p5 = ref MemoryMarshal.GetReference(lanes[5].Span);
        ref byte p6 = ref MemoryMarshal.GetReference(lanes[6].Span), p7 = ref MemoryMarshal.GetReference(lanes[7].Span);
        ref uint s = ref MemoryMarshal.GetReference(state);
        Vector256<uint> a = Vector256.LoadUnsafe(ref s, 0), b = Vector256.LoadUnsafe(ref s, 8), c = Vector256.LoadUnsafe(ref s, 16), d = Vector256.LoadUnsafe(ref s, 24);
        Vector256<uint> e = Vector256.LoadUnsafe(ref s, 32), f = Vector256.LoadUnsafe(ref s, 40), g = Vector256.LoadUnsafe(ref s, 48), h = Vector256.LoadUnsafe(ref s, 56);
        Span<Vector256<uint>> w = stackalloc Vector256<uint>[16];
        ReadOnlySpan<uint> k = s_k;
        for (nuint offset = 0; offset < (nuint)length; offset += BlockSize)
        {
            // The message words of all eight lanes: load each lane's block, swap to big-endian, transpose.
            for (int half = 0; half < 2; half++)
            {
                nuint o = offset + (nuint)(half * 32);
                Transpose(Row(ref p0, o), Row(ref p1, o), Row(ref p2, o), Row(ref p3, o), Row(ref p4, o), Row(ref p5, o), Row(ref p6, o), Row(ref p7, o), w.Slice(half * 8, 8));
            }

            Vector256<uint> a0 = a, b0 = b, c0 = c, d0 = d, e0 = e, f0 = f, g0 = g, h0 = h;
            for (int t = 0; t < 64; t++)
            {
                Vector256<uint> wt;
                if (t < 16)
                {
                    wt = w[t];
                }
                else
                {
                    Vector256<uint> w15 = w[(t - 15) & 15], w2 = w[(t - 2) & 15];
                    Vector256<uint> s0 = Xor3(RotateRight(w15, 7), RotateRight(w15, 18), Avx2.ShiftRightLogical(w15, 3));
                    Vector256<uint> s1 = Xor3(RotateRight(w2, 17), RotateRight(w2, 19), Avx2.ShiftRightLogical(w2, 10));
                    wt = w[t & 15] + s0 + w[(t - 7) & 15] + s1;
                    w[t & 15] = wt;
                }

                Vector256<uint> t1 = h + Xor3(RotateRight(e, 6), RotateRight(e, 11), RotateRight(e, 25)) + Choose(e, f, g) + (Vector256.Create(k[t]) + wt);
                Vector256<uint> t2 = Xor3(RotateRight(a, 2), RotateRight(a, 13), RotateRight(a, 22)) + Majority(a, b, c);
                h = g;
                g = f;
                f = e;
                e = d + t1;
                d = c;
                c = b;
                b = a;
                a = t1 + t2;
            }

            a += a0;
            b += b0;
            c += c0;
            d += d0;
            e += e0;
            f += f0;
            g += g0;
            h += h0;
        }

        a.StoreUnsafe(ref s, 0);
        b.StoreUnsafe(ref s, 8);
        c.StoreUnsafe(ref s, 16);
        d.StoreUnsafe(ref s, 24);
        e.StoreUnsafe(ref s, 32);
        f.StoreUnsafe(ref s, 40);
        g.StoreUnsafe(ref s, 48);
        h.StoreUnsafe(ref s, 56);
    }

    /// <summary>Runs whole blocks of one message through its state (<see cref="StateWords"/> words); used for the odd block.</summary>
    public static void CompressOne(Span<uint> state, ReadOnlyMemory<byte> data)
    {
        Span<uint> columns = stackalloc uint[Lanes * StateWords];
        for (int word = 0; word < StateWords; word++)
        {
            columns[word * Lanes] = state[word];
        }

        Span<ReadOnlyMemory<byte>> lanes = [data, data, data, data, data, data, data, data];
        Compress(columns, lanes, data.Length / BlockSize);
        for (int word = 0; word < StateWords; word++)
        {
            state[word] = columns[word * Lanes];
        }
    }

    /// <summary>Writes a state as the 32-byte big-endian digest.</summary>
    public static void WriteDigest(ReadOnlySpan<uint> state, Span<byte> destination)
    {
        for (int word = 0; word < StateWords; word++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(destination[(word * 4)..], state[word]);
        }
    }

    private static Vector256<byte> Swap => Vector256.Create((byte)3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12);

    // 32 - n is a constant too once this is inlined with a constant n, which the analyzer cannot see.
#pragma warning disable CA1857
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> RotateRight(Vector256<uint> x, [ConstantExpected] byte n) =>
        Avx512F.VL.IsSupported ? Avx512F.VL.RotateRight(x, n) : Avx2.ShiftRightLogical(x, n) | Avx2.ShiftLeftLogical(x, (byte)(32 - n));
#pragma warning restore CA1857

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Xor3(Vector256<uint> x, Vector256<uint> y, Vector256<uint> z) =>
        Avx512F.VL.IsSupported ? Avx512F.VL.TernaryLogic(x, y, z, 0x96) : x ^ y ^ z;

    /// <summary>Ch(e, f, g): f where e is set, else g.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Choose(Vector256<uint> e, Vector256<uint> f, Vector256<uint> g) =>
        Avx512F.VL.IsSupported ? Avx512F.VL.TernaryLogic(e, f, g, 0xCA) : g ^ (e & (f ^ g));

    /// <summary>Maj(a, b, c): the bit most of the three have.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Majority(Vector256<uint> a, Vector256<uint> b, Vector256<uint> c) =>
        Avx512F.VL.IsSupported ? Avx512F.VL.TernaryLogic(a, b, c, 0xE8) : (a & b) | (c & (a | b));

    /// <summary>Eight words of one lane, byte-swapped to big-endian.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Row(ref byte lane, nuint offset) => Avx2.Shuffle(Vector256.LoadUnsafe(ref lane, offset), Swap).AsUInt32();

    /// <summary>Rows r0..r7 (one lane's eight words each) become columns: word j of every lane in <paramref name="into"/>[j].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose(
        Vector256<uint> r0, Vector256<uint> r1, Vector256<uint> r2, Vector256<uint> r3,
        Vector256<uint> r4, Vector256<uint> r5, Vector256<uint> r6, Vector256<uint> r7, Span<Vector256<uint>> into)
    {
        Vector256<ulong> t0 = Avx2.UnpackLow(r0, r1).AsUInt64(), t1 = Avx2.UnpackHigh(r0, r1).AsUInt64();
        Vector256<ulong> t2 = Avx2.UnpackLow(r2, r3).AsUInt64(), t3 = Avx2.UnpackHigh(r2, r3).AsUInt64();
        Vector256<ulong> t4 = Avx2.UnpackLow(r4, r5).AsUInt64(), t5 = Avx2.UnpackHigh(r4, r5).AsUInt64();
        Vector256<ulong> t6 = Avx2.UnpackLow(r6, r7).AsUInt64(), t7 = Avx2.UnpackHigh(r6, r7).AsUInt64();
        Vector256<uint> u0 = Avx2.UnpackLow(t0, t2).AsUInt32(), u1 = Avx2.UnpackHigh(t0, t2).AsUInt32();
        Vector256<uint> u2 = Avx2.UnpackLow(t1, t3).AsUInt32(), u3 = Avx2.UnpackHigh(t1, t3).AsUInt32();
        Vector256<uint> u4 = Avx2.UnpackLow(t4, t6).AsUInt32(), u5 = Avx2.UnpackHigh(t4, t6).AsUInt32();
        Vector256<uint> u6 = Avx2.UnpackLow(t5, t7).AsUInt32(), u7 = Avx2.UnpackHigh(t5, t7).AsUInt32();
        into[0] = Avx2.Permute2x128(u0, u4, 0x20);
        into[1] = Avx2.Permute2x128(u1, u5, 0x20);
        into[2] = Avx2.Permute2x128(u2, u6, 0x20);
        into[3] = Avx2.Permute2x128(u3, u7, 0x20);
        into[4] = Avx2.Permute2x128(u0, u4, 0x31);
        into[5] = Avx2.Permute2x128(u1, u5, 0x31);
        into[6] = Avx2.Permute2x128(u2, u6, 0x31);
        into[7] = Avx2.Permute2x128(u3, u7, 0x31);
    }
}
