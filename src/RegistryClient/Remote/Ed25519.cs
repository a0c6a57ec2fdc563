using System.Runtime.InteropServices;

namespace RegistryClient.Remote;

/// <summary>
/// Ed25519 (RFC 8032) signatures through the system's OpenSSL 3 libcrypto, the library .NET's own cryptography uses
/// on Linux: no NuGet package offers a maintained implementation here (NSec and BouncyCastle are not available).
/// </summary>
internal static partial class Ed25519
{
    public const int SeedBytes = 32;
    public const int PublicKeyBytes = 32;
    public const int SignatureBytes = 64;

    /// <summary>Signs <paramref name="message"/> with the private key whose 32-byte seed is given.</summary>
    /// <exception cref="System.Security.Cryptography.CryptographicException">libcrypto is missing or refused the key.</exception>
    public static byte[] Sign(ReadOnlySpan<byte> seed, ReadOnlySpan<byte> message)
    {
        if (seed.Length != SeedBytes)
        {
            throw new ArgumentException($"an Ed25519 seed is {SeedBytes} bytes, not {seed.Length}", nameof(seed));
        }

        byte[] seedCopy = seed.ToArray();
        byte[] data = message.ToArray();
        IntPtr key = Call(() => NativeMethods.EVP_PKEY_new_raw_private_key(NativeMethods.EvpPkeyEd25519, IntPtr.Zero, seedCopy, (nuint)seedCopy.Length));
        Array.Clear(seedCopy);
        if (key == IntPtr.Zero)
        {
            throw new System.Security.Cryptography.CryptographicException("libcrypto refused the Ed25519 private key");
        }

        IntPtr context = NativeMethods.EVP_MD_CTX_new();
        try
        {
            byte[] signature = new byte[SignatureBytes];
            nuint length = (nuint)signature.Length;
            if (context == IntPtr.Zero
                || NativeMethods.EVP_DigestSignInit(context, IntPtr.Zero, IntPtr.Zero, IntPtr.Zero, key) != 1
                || NativeMethods.EVP_DigestSign(context, signature, ref length, data, (nuint)data.Length) != 1
                || length != SignatureBytes)
            {
                throw new System.Security.Cryptography.CryptographicException("libcrypto could not make an Ed25519 signature");
            }

            return signature;
        }
        finally
        {
            NativeMethods.EVP_MD_CTX_free(context);
            NativeMethods.EVP_PKEY_free(key);
        }
    }

    /// <summary>True when <paramref name="signature"/> is a valid signature of <paramref name="message"/> by <paramref name="publicKey"/>.</summary>
    public static bool Verify(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        if (publicKey.Length != PublicKeyBytes || signature.Length != SignatureBytes)
        {
            return false;
        }

        byte[] publicCopy = publicKey.ToArray();
        byte[] data = message.ToArray();
        byte[] signatureCopy = signature.ToArray();
        IntPtr key = Call(() => NativeMethods.EVP_PKEY_new_raw_public_key(NativeMethods.EvpPkeyEd25519, IntPtr.Zero, publicCopy, (nuint)publicCopy.Length));
        if (key == IntPtr.Zero)
        {
            return false;
        }

        IntPtr context = NativeMethods.EVP_MD_CTX_new();
        try
        {
            return context != IntPtr.Zero
                && NativeMethods.EVP_DigestVerifyInit(context, IntPtr.Zero, IntPtr.Zero, IntPtr.Zero, key) == 1
                && NativeMethods.EVP_DigestVerify(context, signatureCopy, (nuint)signatureCopy.Length, data, (nuint)data.Length) == 1;
        }
        finally
        {
            NativeMethods.EVP_MD_CTX_free(context);
            NativeMethods.EVP_PKEY_free(key);
        }
    }

    private static IntPtr Call(Func<IntPtr> create)
    {
        try
        {
            return create();
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            throw new System.Security.Cryptography.CryptographicException($"Ed25519 needs OpenSSL 3's libcrypto ({NativeMethods.LibCrypto}), which could not be loaded: {e.Message}", e);
        }
    }

    private static class NativeMethods
    {
        public const string LibCrypto = "libcrypto.so.3";

        /// <summary>NID_ED25519 = EVP_PKEY_ED25519.</summary>
        public const int EvpPkeyEd25519 = 1087;

        [DllImport(LibCrypto)]
        public static extern IntPtr EVP_PKEY_new_raw_private_key(int type, IntPtr engine, byte[] key, nuint length);

        [DllImport(LibCrypto)]
        public static extern IntPtr EVP_PKEY_new_raw_public_key(int type, IntPtr engine, byte[] key, nuint length);

        [DllImport(LibCrypto)]
        public static extern void EVP_PKEY_free(IntPtr key);

        [DllImport(LibCrypto)]
        public static extern IntPtr EVP_MD_CTX_new();

        [DllImport(LibCrypto)]
        public static extern void EVP_MD_CTX_free(IntPtr context);

        [DllImport(LibCrypto)]
        public static extern int EVP_DigestSignInit(IntPtr context, IntPtr keyContext, IntPtr digest, IntPtr engine, IntPtr key);

        [DllImport(LibCrypto)]
        public static extern int EVP_DigestSign(IntPtr context, byte[] signature, ref nuint signatureLength, byte[] data, nuint dataLength);

        [DllImport(LibCrypto)]
        public static extern int EVP_DigestVerifyInit(IntPtr context, IntPtr keyContext, IntPtr digest, IntPtr engine, IntPtr key);

        [DllImport(LibCrypto)]
        public static extern int EVP_DigestVerify(IntPtr context, byte[] signature, nuint signatureLength, byte[] data, nuint dataLength);
    }
}
