namespace IrpLab.Cli.Tests;

public sealed class BadInputTests
{
    [Theory]
    [InlineData("0")]
    [InlineData("100")]
    [InlineData("-3")]
    public void Run_ProcessorsOutOfRange_UsageError(string processors)
    {
        CliResult r = CliResult.Run("run", "async-ioctl", "--deterministic", "--processors", processors);
        r.AssertUsageError($"irplab: --processors must be between 1 and 64 (got {processors})");
        Assert.Equal(string.Empty, r.Stdout);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("65")]
    public void Explore_ProcessorsOutOfRange_UsageError(string processors)
    {
        CliResult.Run("explore", "race-startio-cancel", "--processors", processors)
            .AssertUsageError($"irplab: --processors must be between 1 and 64 (got {processors})");
    }

    [Fact]
    public void Run_ProcessorsNotANumber_UsageError()
    {
        CliResult.Run("run", "async-ioctl", "--processors", "two")
            .AssertUsageError("irplab: Cannot parse argument 'two' for option '--processors'");
    }

    [Theory]
    [InlineData("-5")]
    [InlineData("0")]
    public void Explore_IterationsBelowOne_UsageError(string iterations)
    {
        CliResult.Run("explore", "race-startio-cancel", "--iterations", iterations)
            .AssertUsageError($"irplab: --iterations must be at least 1 (got {iterations})");
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-1")]
    public void Explore_MaxStepsBelowOne_UsageError(string maxSteps)
    {
        CliResult.Run("explore", "race-startio-cancel", "--max-steps", maxSteps)
            .AssertUsageError($"irplab: --max-steps must be at least 1 (got {maxSteps})");
    }

    [Fact]
    public void Explore_RepeatZero_UsageError()
    {
        CliResult.Run("explore", "race-startio-cancel", "--repeat", "0")
            .AssertUsageError("irplab: --repeat must be between 1 and 1000 (got 0)");
    }

    [Fact]
    public void Explore_OutUnderAFile_UsageError()
    {
        using var dir = new TempDirectory();
        string file = dir.File("plain.txt");
        File.WriteAllText(file, "not a directory");
        string under = Path.Combine(file, "s.json");
        CliResult.Run("explore", "race-startio-cancel", "--iterations", "5", "--out", under)
            .AssertUsageError($"irplab: --out '{under}': '{file}' is a file, not a directory");
    }

    [Fact]
    public void Explore_OutIsADirectory_UsageError()
    {
        using var dir = new TempDirectory();
        CliResult.Run("explore", "race-startio-cancel", "--iterations", "5", "--out", dir.Path)
            .AssertUsageError($"irplab: --out '{dir.Path}': is a directory");
    }

    [Fact]
    public void Explore_OutInMissingDirectory_UsageError()
    {
        using var dir = new TempDirectory();
        string path = Path.Combine(dir.Path, "no", "such", "s.json");
        CliResult.Run("explore", "race-startio-cancel", "--iterations", "5", "--out", path)
            .AssertUsageError($"irplab: --out '{path}': directory '{Path.Combine(dir.Path, "no", "such")}' does not exist");
    }

    [Fact]
    public void Run_SeedWithoutDeterministic_UsageErrorSaysAddDeterministic()
    {
        CliResult.Run("run", "async-ioctl", "--seed", "7")
            .AssertUsageError("irplab: --seed needs --deterministic");
    }

    [Fact]
    public void Run_UnknownSample_UsageError()
    {
        CliResult.Run("run", "no-such-sample").AssertUsageError("irplab: no sample named 'no-such-sample' (see 'irplab samples')");
        CliResult.Run("explore", "no-such-sample").AssertUsageError("irplab: no sample named 'no-such-sample' (see 'irplab samples')");
    }

    [Fact]
    public void Run_VerifierNotOnOrOff_UsageErrorOnOneLine()
    {
        CliResult.Run("run", "async-ioctl", "--verifier", "maybe")
            .AssertUsageError("irplab: Argument 'maybe' not recognized. Must be one of: 'on' 'off'");
    }

    [Fact]
    public void Explore_UnknownStrategy_UsageError()
    {
        CliResult.Run("explore", "race-startio-cancel", "--strategy", "fastest")
            .AssertUsageError("irplab: Argument 'fastest' not recognized.");
    }

    [Fact]
    public void Root_UnknownCommand_UsageError()
    {
        CliResult.Run("bogus").AssertUsageError("irplab: Unrecognized command or argument 'bogus'.");
    }

    [Fact]
    public void Run_MissingSample_UsageError()
    {
        CliResult.Run("run").AssertUsageError("irplab: Required argument missing for command: 'run'.");
    }

    [Fact]
    public void Replay_MissingFile_UsageError()
    {
        using var dir = new TempDirectory();
        string path = dir.File("missing.json");
        CliResult.Run("replay", path).AssertUsageError($"irplab: cannot read schedule '{path}': Could not find file");
    }

    [Fact]
    public void Replay_NotJson_UsageError()
    {
        using var dir = new TempDirectory();
        string path = dir.File("garbage.json");
        File.WriteAllText(path, "this is not a schedule");
        CliResult.Run("replay", path).AssertUsageError($"irplab: cannot read schedule '{path}': ");
    }
}
