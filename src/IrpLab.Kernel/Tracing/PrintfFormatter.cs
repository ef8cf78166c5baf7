using System.Globalization;
using System.Text;

namespace IrpLab;

/// <summary>
/// The subset of C printf formatting that DbgPrint users write: %d %i %u %x %X %o %c %s %S %ws %wZ %p %%,
/// with flags (- 0 + space #), width, precision and the length prefixes h l ll I64 I32 z.
/// </summary>
internal static class PrintfFormatter
{
    public static string Format(string format, ReadOnlySpan<object?> args)
    {
        if (format.IndexOf('%', StringComparison.Ordinal) < 0)
        {
            return format;
        }

        var b = new StringBuilder(format.Length + 16);
        int argIndex = 0;
        int i = 0;
        while (i < format.Length)
        {
            char c = format[i++];
            if (c != '%')
            {
                b.Append(c);
                continue;
            }

            if (i < format.Length && format[i] == '%')
            {
                b.Append('%');
                i++;
                continue;
            }

            bool left = false, zero = false, plus = false, space = false, alt = false;
            for (; i < format.Length; i++)
            {
                char f = format[i];
                if (f == '-') { left = true; }
                else if (f == '0') { zero = true; }
                else if (f == '+') { plus = true; }
                else if (f == ' ') { space = true; }
                else if (f == '#') { alt = true; }
                else { break; }
            }

            int width = ReadNumber(format, ref i, args, ref argIndex);
            int precision = -1;
            if (i < format.Length && format[i] == '.')
            {
                i++;
                precision = Math.Max(0, ReadNumber(format, ref i, args, ref argIndex));
            }

            // Length prefixes carry no meaning for boxed arguments.
            while (i < format.Length)
            {
                if (format[i] is 'h' or 'l' or 'z' or 'w' && !(format[i] == 'w' && i + 1 < format.Length && format[i + 1] is 'Z'))
                {
                    if (format[i] == 'w' && i + 1 < format.Length && format[i + 1] is 's' or 'c')
                    {
                        i++;
                        continue;
                    }

                    i++;
                }
                else if (format[i] == 'I' && i + 2 < format.Length && (format.AsSpan(i + 1, 2).SequenceEqual("64") || format.AsSpan(i + 1, 2).SequenceEqual("32")))
                {
                    i += 3;
                }
                else
                {
                    break;
                }
            }

            if (i >= format.Length)
            {
                break;
            }

            char conv = format[i++];
            if (conv == 'w' && i < format.Length && format[i] == 'Z')
            {
                conv = 's';
                i++;
            }

            object? arg = argIndex < args.Length ? args[argIndex++] : null;
            string body = conv switch
            {
                'd' or 'i' => Signed(arg, plus, space),
                'u' => Unsigned(arg).ToString(CultureInfo.InvariantCulture),
                'x' => (alt ? "0x" : string.Empty) + Unsigned(arg).ToString("x", CultureInfo.InvariantCulture),
                'X' => (alt ? "0X" : string.Empty) + Unsigned(arg).ToString("X", CultureInfo.InvariantCulture),
                'o' => Convert.ToString((long)Unsigned(arg), 8),
                'p' => Unsigned(arg).ToString("X16", CultureInfo.InvariantCulture),
                'c' or 'C' => arg is char ch ? ch.ToString() : ((char)Unsigned(arg)).ToString(),
                's' or 'S' or 'Z' => Str(arg, precision),
                'f' or 'F' or 'e' or 'g' => Convert.ToDouble(arg ?? 0, CultureInfo.InvariantCulture).ToString(precision >= 0 ? "F" + precision.ToString(CultureInfo.InvariantCulture) : "F6", CultureInfo.InvariantCulture),
                _ => "%" + conv,
            };

            if (precision >= 0 && conv is 'd' or 'i' or 'u' or 'x' or 'X' && body.TrimStart('-').Length < precision)
            {
                bool neg = body.StartsWith('-');
                body = (neg ? "-" : string.Empty) + body.TrimStart('-').PadLeft(precision, '0');
            }

            if (body.Length < width)
            {
                if (left)
                {
                    body = body.PadRight(width);
                }
                else if (zero && precision < 0 && conv is not ('s' or 'S' or 'c'))
                {
                    // The zeros go after the sign (or space) and after a 0x prefix: "% 05d" → " 0042", "%#06x" → "0x00ff".
                    int prefix = body.Length > 0 && body[0] is '-' or '+' or ' ' ? 1 : 0;
                    if (alt && conv is 'x' or 'X')
                    {
                        prefix += 2;
                    }

                    body = body[..prefix] + body[prefix..].PadLeft(width - prefix, '0');
                }
                else
                {
                    body = body.PadLeft(width);
                }
            }

            b.Append(body);
        }

        return b.ToString();
    }

    private static int ReadNumber(string format, ref int i, ReadOnlySpan<object?> args, ref int argIndex)
    {
        if (i < format.Length && format[i] == '*')
        {
            i++;
            return argIndex < args.Length ? Convert.ToInt32(args[argIndex++], CultureInfo.InvariantCulture) : 0;
        }

        int n = 0;
        while (i < format.Length && char.IsAsciiDigit(format[i]))
        {
            n = (n * 10) + (format[i++] - '0');
        }

        return n;
    }

    private static string Signed(object? arg, bool plus, bool space)
    {
        long v = arg switch
        {
            null => 0,
            NtStatus status => (int)status,
            Enum e => Convert.ToInt64(e, CultureInfo.InvariantCulture),
            ulong u => unchecked((long)u),
            uint u => unchecked((int)u),
            bool b => b ? 1 : 0,
            _ => Convert.ToInt64(arg, CultureInfo.InvariantCulture),
        };
        string s = v.ToString(CultureInfo.InvariantCulture);
        return v >= 0 && plus ? "+" + s : v >= 0 && space ? " " + s : s;
    }

    private static ulong Unsigned(object? arg) => arg switch
    {
        null => 0,
        NtStatus st => (uint)st,
        int i => unchecked((uint)i),
        long l => unchecked((ulong)l),
        short sh => unchecked((ushort)sh),
        sbyte sb => unchecked((byte)sb),
        nint n => unchecked((ulong)n),
        nuint n => n,
        char c => c,
        bool b => b ? 1UL : 0UL,
        Enum e => unchecked((ulong)Convert.ToInt64(e, CultureInfo.InvariantCulture)),
        IConvertible c => Convert.ToUInt64(c, CultureInfo.InvariantCulture),
        _ => unchecked((ulong)arg.GetHashCode()),
    };

    private static string Str(object? arg, int precision)
    {
        string s = arg switch
        {
            null => "(null)",
            byte[] bytes => Encoding.ASCII.GetString(bytes, 0, Math.Max(0, Array.IndexOf(bytes, (byte)0) is var z && z >= 0 ? z : bytes.Length)),
            _ => arg.ToString() ?? string.Empty,
        };
        return precision >= 0 && s.Length > precision ? s[..precision] : s;
    }
}
