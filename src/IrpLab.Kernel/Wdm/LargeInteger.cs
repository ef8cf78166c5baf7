namespace IrpLab;

/// <summary>LARGE_INTEGER: a 64-bit value with its low and high halves.</summary>
public struct LargeInteger
{
    public long QuadPart;

    public LargeInteger(long value)
    {
        QuadPart = value;
    }

    public uint LowPart
    {
        readonly get => (uint)QuadPart;
        set => QuadPart = (QuadPart & unchecked((long)0xFFFF_FFFF_0000_0000)) | value;
    }

    public int HighPart
    {
        readonly get => (int)(QuadPart >> 32);
        set => QuadPart = ((long)value << 32) | (uint)QuadPart;
    }

    public static implicit operator long(LargeInteger value) => value.QuadPart;

    public static implicit operator long?(LargeInteger value) => value.QuadPart;

    public static implicit operator LargeInteger(long value) => new(value);

    public readonly long ToInt64() => QuadPart;

    public static LargeInteger FromInt64(long value) => new(value);

    public override readonly string ToString() => QuadPart.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
