using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace RegistryClient.Remote;

/// <summary>
/// An Ollama client key (<c>~/.ollama/id_ed25519</c>, an unencrypted OpenSSH Ed25519 private key) and the request
/// signature Ollama's registry expects on token requests: <c>Authorization: &lt;public key&gt;:&lt;signature&gt;</c>, both
/// base64, the public key in SSH wire format (as in <c>id_ed25519.pub</c>), the signature over
/// <c>GET,&lt;token URL&gt;,&lt;base64 of the hex SHA-256 of the empty body&gt;</c>. The private key never leaves this type.
/// </summary>
public sealed class OllamaKey
{
    private const string Armor = "OPENSSH PRIVATE KEY";
    private static readonly byte[] Magic = "openssh-key-v1\0"u8.ToArray();
    private readonly byte[] _seed;

    private OllamaKey(byte[] seed, byte[] publicKey)
    {
        _seed = seed;
        PublicKey = publicKey;
        PublicKeyText = Convert.ToBase64String(WirePublicKey(publicKey));
    }

    /// <summary>The raw 32-byte public key.</summary>
    public ReadOnlyMemory<byte> PublicKey { get; }

    /// <summary>The public key as Ollama sends it: base64 of the SSH wire format, the middle field of <c>id_ed25519.pub</c>.</summary>
    public string PublicKeyText { get; }

    /// <summary>The default key file: <c>~/.ollama/id_ed25519</c>.</summary>
    public static string DefaultPath() => Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".ollama", "id_ed25519");

    /// <summary>Reads an OpenSSH Ed25519 private key file.</summary>
    /// <exception cref="InvalidDataException">The file is not an unencrypted OpenSSH Ed25519 key; the message says which rule failed.</exception>
    public static OllamaKey Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string text = File.ReadAllText(path);
        try
        {
            return Parse(text);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}");
        }
    }

    /// <summary>Parses the text of an OpenSSH Ed25519 private key.</summary>
    /// <exception cref="InvalidDataException">It is not an unencrypted OpenSSH Ed25519 key.</exception>
    public static OllamaKey Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string begin = $"-----BEGIN {Armor}-----", end = $"-----END {Armor}-----";
        int start = text.IndexOf(begin, StringComparison.Ordinal);
        int stop = text.IndexOf(end, StringComparison.Ordinal);
        if (start < 0 || stop < start)
        {
            throw new InvalidDataException("not an OpenSSH private key (no BEGIN/END OPENSSH PRIVATE KEY lines)");
        }

        byte[] blob;
        try
        {
            blob = Convert.FromBase64String(string.Concat(text[(start + begin.Length)..stop].Where(c => !char.IsWhiteSpace(c))));
        }
        catch (FormatException)
        {
            throw new InvalidDataException("the OpenSSH private key is not valid base64");
        }

        var reader = new WireReader(blob);
        if (!reader.Take(Magic.Length).SequenceEqual(Magic))
        {
            throw new InvalidDataException("not an openssh-key-v1 key");
        }

        if (reader.String() is var cipher && !cipher.SequenceEqual("none"u8))
        {
            throw new InvalidDataException($"the key is encrypted ({Encoding.ASCII.GetString(cipher)}); Ollama's keys are not, decrypt it with ssh-keygen -p");
        }

        reader.String(); // kdf name
        reader.String(); // kdf options
        if (reader.UInt32() != 1)
        {
            throw new InvalidDataException("the file must hold exactly one key");
        }

        reader.String(); // public key blob, repeated in the private section
        var secret = new WireReader(reader.String().ToArray());
        if (secret.UInt32() != secret.UInt32())
        {
            throw new InvalidDataException("the key's check numbers differ (damaged or encrypted)");
        }

        if (!secret.String().SequenceEqual("ssh-ed25519"u8))
        {
            throw new InvalidDataException("not an Ed25519 key (Ollama uses ssh-ed25519)");
        }

        byte[] publicKey = secret.String().ToArray();
        byte[] both = secret.String().ToArray();
        if (publicKey.Length != Ed25519.PublicKeyBytes || both.Length != Ed25519.SeedBytes + Ed25519.PublicKeyBytes
            || !both.AsSpan(Ed25519.SeedBytes).SequenceEqual(publicKey))
        {
            throw new InvalidDataException("the Ed25519 key has the wrong length or its two copies of the public key differ");
        }

        byte[] seed = both[..Ed25519.SeedBytes];
        Array.Clear(both);
        return new OllamaKey(seed, publicKey);
    }

    /// <summary>The <c>Authorization</c> value for a GET of <paramref name="url"/> with an empty body, as Ollama signs it.</summary>
    public string SignRequest(Uri url)
    {
        ArgumentNullException.ThrowIfNull(url);
        byte[] message = SignedText(url);
        return PublicKeyText + ":" + Convert.ToBase64String(Ed25519.Sign(_seed, message));
    }

    /// <summary>The bytes signed for a GET of <paramref name="url"/> with an empty body.</summary>
    internal static byte[] SignedText(Uri url)
    {
        string emptyBodyHash = Convert.ToBase64String(Encoding.ASCII.GetBytes(Convert.ToHexStringLower(SHA256.HashData([]))));
        return Encoding.UTF8.GetBytes($"GET,{url.AbsoluteUri},{emptyBodyHash}");
    }

    /// <summary>Checks an <c>Authorization</c> value made by <see cref="SignRequest"/> (what a registry's token server does); returns the public key text when valid.</summary>
    internal static string? VerifyRequest(Uri url, string authorization)
    {
        int colon = authorization.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            return null;
        }

        try
        {
            byte[] wire = Convert.FromBase64String(authorization[..colon]);
            byte[] signature = Convert.FromBase64String(authorization[(colon + 1)..]);
            var reader = new WireReader(wire);
            if (!reader.String().SequenceEqual("ssh-ed25519"u8))
            {
                return null;
            }

            byte[] publicKey = reader.String().ToArray();
            return Ed25519.Verify(publicKey, SignedText(url), signature) ? authorization[..colon] : null;
        }
        catch (Exception e) when (e is FormatException or InvalidDataException)
        {
            return null;
        }
    }

    private static byte[] WirePublicKey(byte[] publicKey)
    {
        byte[] type = "ssh-ed25519"u8.ToArray();
        byte[] wire = new byte[4 + type.Length + 4 + publicKey.Length];
        BinaryPrimitives.WriteInt32BigEndian(wire, type.Length);
        type.CopyTo(wire, 4);
        BinaryPrimitives.WriteInt32BigEndian(wire.AsSpan(4 + type.Length), publicKey.Length);
        publicKey.CopyTo(wire, 8 + type.Length);
        return wire;
    }

    /// <summary>Reads SSH wire-format fields (RFC 4251 §5), refusing to read past the end.</summary>
    private sealed class WireReader(byte[] data)
    {
        private int _position;

        public ReadOnlySpan<byte> Take(int count)
        {
            if (count < 0 || count > data.Length - _position)
            {
                throw new InvalidDataException("the key is cut short or damaged");
            }

            ReadOnlySpan<byte> span = data.AsSpan(_position, count);
            _position += count;
            return span;
        }

        public uint UInt32() => BinaryPrimitives.ReadUInt32BigEndian(Take(4));

        public ReadOnlySpan<byte> String()
        {
            uint length = UInt32();
            return Take(length > int.MaxValue ? -1 : (int)length);
        }
    }
}
