namespace IrpLab.Tests;

/// <summary>C printf formatting as DbgPrint / printf users write it (MSVC semantics, x64).</summary>
public sealed class PrintfFormatterTests
{
    [Theory]
    [InlineData("%d", 42, "42")]
    [InlineData("%d", -42, "-42")]
    [InlineData("%i", 7, "7")]
    [InlineData("%5d", 42, "   42")]
    [InlineData("%-5d|", 42, "42   |")]
    [InlineData("%05d", 42, "00042")]
    [InlineData("%05d", -42, "-0042")]
    [InlineData("%+d", 42, "+42")]
    [InlineData("%.3d", 7, "007")]
    [InlineData("%u", 42u, "42")]
    [InlineData("%u", -1, "4294967295")]
    [InlineData("%x", 255, "ff")]
    [InlineData("%X", 255, "FF")]
    [InlineData("%x", -1, "ffffffff")]
    [InlineData("%#x", 255, "0xff")]
    [InlineData("%08X", 0xBEEF, "0000BEEF")]
    [InlineData("%08X", 0xC0000001u, "C0000001")]
    [InlineData("%s", "abc", "abc")]
    [InlineData("%.3s", "abcdef", "abc")]
    [InlineData("%-6s|", "ab", "ab    |")]
    [InlineData("%6s|", "ab", "    ab|")]
    [InlineData("%c", 'A', "A")]
    [InlineData("%c", 66, "B")]
    [InlineData("%ld", -123456L, "-123456")]
    [InlineData("%lu", 4000000000u, "4000000000")]
    [InlineData("%I64d", long.MinValue, "-9223372036854775808")]
    [InlineData("%I64u", ulong.MaxValue, "18446744073709551615")]
    [InlineData("%I64x", 0x1234_5678_9ABC_DEF0L, "123456789abcdef0")]
    [InlineData("%lld", 9_000_000_000L, "9000000000")]
    [InlineData("%zu", 17, "17")]
    [InlineData("%ws", "wide", "wide")]
    [InlineData("%+05d", 42, "+0042")]
    [InlineData("% 05d", 42, " 0042")]
    [InlineData("% d", 42, " 42")]
    [InlineData("%#06x", 255, "0x00ff")]
    [InlineData("%#010X", 0xBEEF, "0X0000BEEF")]
    [InlineData("%-#6x|", 255, "0xff  |")]
    public void Format_OneConversion_MatchesC(string format, object argument, string expected)
    {
        Assert.Equal(expected, Crt.Format(format, argument));
    }

    [Fact]
    public void Format_Pointer_Prints16UppercaseHexDigits()
    {
        Assert.Equal("FFFFA00000000010", Crt.Format("%p", unchecked((nint)0xFFFF_A000_0000_0010)));
        Assert.Equal("0000000000001234", Crt.Format("%p", (nint)0x1234));
    }

    [Fact]
    public void Format_PercentPercent_PrintsOnePercentAndConsumesNoArgument()
    {
        Assert.Equal("100% done 5", Crt.Format("100%% done %d", 5));
        Assert.Equal("%", Crt.Format("%%"));
    }

    [Fact]
    public void Format_SeveralConversions_ConsumeArgumentsInOrder()
    {
        Assert.Equal(
            "^_^ ThreadProc() has run for 3 seconds! [0x00000103] ok",
            Crt.Format("^_^ ThreadProc() has run for %d seconds! [0x%08X] %s", 3, NtStatus.STATUS_PENDING, "ok"));
    }

    [Fact]
    public void Format_NtStatusArgument_PrintsItsNumericValue()
    {
        Assert.Equal("status C0000120 -1073741536", Crt.Format("status %X %d", NtStatus.STATUS_CANCELLED, NtStatus.STATUS_CANCELLED));
    }

    [Fact]
    public void Format_UnicodeStringWithWZ_PrintsItsText()
    {
        Assert.Equal("name \\Device\\X!", Crt.Format("name %wZ!", new UnicodeString("\\Device\\X")));
    }

    [Fact]
    public void Format_StarWidth_TakesTheWidthFromTheArguments()
    {
        Assert.Equal("   42", Crt.Format("%*d", 5, 42));
    }

    [Fact]
    public void Format_MissingArgumentsAndNullString_DoNotThrow()
    {
        Assert.Equal("(null)", Crt.Format("%s", [null]));
        Assert.Equal("0", Crt.Format("%d"));
    }

    [Fact]
    public void Format_NoConversion_ReturnsTheFormat()
    {
        Assert.Equal("plain text\n", Crt.Format("plain text\n"));
    }
}
