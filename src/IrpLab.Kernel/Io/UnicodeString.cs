namespace IrpLab;

/// <summary>UNICODE_STRING, reduced to what a model needs: a .NET string with its byte lengths.</summary>
public readonly record struct UnicodeString(string? Buffer)
{
    /// <summary>Length in bytes, as in the C structure.</summary>
    public ushort Length => (ushort)((Buffer?.Length ?? 0) * 2);

    public ushort MaximumLength => (ushort)(Length + 2);

    public static implicit operator UnicodeString(string? s) => new(s);

    public static implicit operator string(UnicodeString s) => s.Buffer ?? string.Empty;

    public override string ToString() => Buffer ?? string.Empty;
}
