using System.Buffers.Binary;
using System.Text;

namespace Assistant.Tokenization;

/// <summary>The few protocol-buffer encodings a SentencePiece model file needs (varints, floats, strings, nested messages).</summary>
internal sealed class ProtobufWriter
{
    private const int Varint = 0;
    private const int LengthDelimited = 2;
    private const int Fixed32 = 5;

    private readonly MemoryStream buffer = new();

    public void WriteInt(int field, long value)
    {
        WriteTag(field, Varint);
        WriteVarint(unchecked((ulong)value));
    }

    public void WriteBool(int field, bool value) => WriteInt(field, value ? 1 : 0);

    public void WriteFloat(int field, float value)
    {
        WriteTag(field, Fixed32);
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteSingleLittleEndian(bytes, value);
        buffer.Write(bytes);
    }

    public void WriteString(int field, string value) => WriteBytes(field, Encoding.UTF8.GetBytes(value));

    public void WriteMessage(int field, ProtobufWriter message) => WriteBytes(field, message.ToArray());

    public byte[] ToArray() => buffer.ToArray();

    private void WriteBytes(int field, byte[] value)
    {
        WriteTag(field, LengthDelimited);
        WriteVarint((ulong)value.Length);
        buffer.Write(value);
    }

    private void WriteTag(int field, int wireType) => WriteVarint((ulong)((field << 3) | wireType));

    private void WriteVarint(ulong value)
    {
        while (value >= 0x80)
        {
            buffer.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }

        buffer.WriteByte((byte)value);
    }
}
