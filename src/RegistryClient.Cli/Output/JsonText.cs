using System.Collections;
using System.Text.Json;

namespace RegistryClient.Cli.Output;

/// <summary>
/// Writes the CLI's JSON output (progress lines, reports) from plain dictionaries, lists and primitives, without
/// reflection, so a native (ahead-of-time compiled) regc writes the same JSON as a JIT one.
/// </summary>
internal static class JsonText
{
    /// <summary>The JSON text of <paramref name="value"/>: null, a string, a number, a bool, a dictionary with string keys, or a sequence of those.</summary>
    /// <exception cref="NotSupportedException">A value of another type.</exception>
    public static string Serialize(object? value)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            Write(writer, value);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void Write(Utf8JsonWriter writer, object? value)
    {
        switch (value)
        {
            case null:
                writer.WriteNullValue();
                break;
            case string text:
                writer.WriteStringValue(text);
                break;
            case bool flag:
                writer.WriteBooleanValue(flag);
                break;
            case int number:
                writer.WriteNumberValue(number);
                break;
            case long number:
                writer.WriteNumberValue(number);
                break;
            case double number:
                writer.WriteNumberValue(number);
                break;
            case IDictionary dictionary:
                writer.WriteStartObject();
                foreach (DictionaryEntry entry in dictionary)
                {
                    writer.WritePropertyName((string)entry.Key);
                    Write(writer, entry.Value);
                }

                writer.WriteEndObject();
                break;
            case IEnumerable sequence:
                writer.WriteStartArray();
                foreach (object? item in sequence)
                {
                    Write(writer, item);
                }

                writer.WriteEndArray();
                break;
            default:
                throw new NotSupportedException($"no JSON for a {value.GetType().Name}");
        }
    }
}
