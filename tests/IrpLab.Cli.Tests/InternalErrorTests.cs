namespace IrpLab.Cli.Tests;

public sealed class InternalErrorTests
{
    /// <summary>A console that fails on every write, as a closed pipe does: an exception irplab does not expect.</summary>
    private sealed class BrokenWriter : StringWriter
    {
        public override void Write(char value) => throw new IOException("broken pipe");

        public override void Write(string? value) => throw new IOException("broken pipe");

        public override void WriteLine(string? value) => throw new IOException("broken pipe");
    }

    [Fact]
    public void Run_UnexpectedException_ExitThreeOneLineNoStackTrace()
    {
        using var stdout = new BrokenWriter();
        using var stderr = new StringWriter();
        int exit = Program.Run(["samples"], stdout, stderr);

        Assert.Equal(Program.ExitInternalError, exit);
        string line = Assert.Single(stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("irplab: internal error: IOException: broken pipe (please report it", line, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Run_UnexpectedExceptionWithVerbose_PrintsTheStackTrace()
    {
        using var stdout = new BrokenWriter();
        using var stderr = new StringWriter();
        int exit = Program.Run(["explore", "race-startio-cancel-fixed", "--iterations", "1", "--verbose"], stdout, stderr);

        Assert.Equal(Program.ExitInternalError, exit);
        Assert.StartsWith("irplab: internal error: IOException: broken pipe", stderr.ToString(), StringComparison.Ordinal);
        Assert.Contains("   at ", stderr.ToString(), StringComparison.Ordinal);
    }
}
