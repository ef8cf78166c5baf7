using System.Text;

namespace IrpLab.Samples;

/// <summary>C strings for the samples: "text" with its terminating NUL, and back.</summary>
public static class Ansi
{
    /// <summary>The bytes of a C string literal, NUL included (what sizeof("...") counts).</summary>
    public static byte[] Bytes(string text) => Encoding.ASCII.GetBytes(text + "\0");

    /// <summary>The text of a NUL-terminated buffer.</summary>
    public static string Text(byte[] buffer, int length = -1)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        int end = length < 0 ? buffer.Length : Math.Min(length, buffer.Length);
        int nul = Array.IndexOf(buffer, (byte)0, 0, end);
        return Encoding.ASCII.GetString(buffer, 0, nul >= 0 ? nul : end);
    }
}
