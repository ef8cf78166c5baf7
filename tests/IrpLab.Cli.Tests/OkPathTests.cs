using System.Text.RegularExpressions;

namespace IrpLab.Cli.Tests;

public sealed class OkPathTests
{
    [Fact]
    public void Samples_ListsEverySample_ExitZero()
    {
        CliResult r = CliResult.Run("samples");
        Assert.Equal(Program.ExitOk, r.ExitCode);
        Assert.Equal(string.Empty, r.Stderr);
        foreach (IrpLab.Samples.Sample s in IrpLab.Samples.SampleCatalog.All)
        {
            Assert.Contains(s.Name + " ", r.Stdout, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Help_ExitZero()
    {
        foreach (string[] args in new[] { new[] { "--help" }, ["run", "--help"], ["explore", "--help"], ["replay", "--help"], ["samples", "--help"] })
        {
            CliResult r = CliResult.Run(args);
            Assert.Equal(Program.ExitOk, r.ExitCode);
            Assert.Contains("Usage:", r.Stdout, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Run_AsyncIoctlDeterministic_ExitZeroAndReadableBufferLine()
    {
        CliResult r = CliResult.Run("run", "async-ioctl", "--deterministic", "--seed", "3");
        Assert.Equal(Program.ExitOk, r.ExitCode);
        Assert.Equal(string.Empty, r.Stderr);
        Assert.Contains("ERROR_OPERATION_ABORTED", r.Stdout, StringComparison.Ordinal);

        // The driver's reply ends in a newline; the app prints the text on one line.
        Assert.Contains("\t[app] Return buffer is \"Hi Mon, I finish your request!\" (32 bytes)" + Environment.NewLine + "00000008", r.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_BugCheckingSample_ExitTwo()
    {
        CliResult r = CliResult.Run("run", "startio-seed-wait", "--deterministic");
        Assert.Equal(Program.ExitFailureFound, r.ExitCode);
        Assert.Contains("DRIVER_VERIFIER_DETECTED_VIOLATION (0xC4)", r.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void ExploreThenReplay_RaceSample_ExitTwoBothTimes_CorruptedCopyExitOne()
    {
        using var dir = new TempDirectory();
        string path = dir.File("race.json");
        CliResult explore = CliResult.Run("explore", "race-startio-cancel", "--iterations", "200", "--out", path);
        Assert.Equal(Program.ExitFailureFound, explore.ExitCode);
        Assert.True(File.Exists(path));

        CliResult replay = CliResult.Run("replay", path);
        Assert.Equal(Program.ExitFailureFound, replay.ExitCode);
        Assert.Contains("replay reproduced the recorded run exactly", replay.Stdout, StringComparison.Ordinal);

        string json = File.ReadAllText(path);
        string truncated = dir.File("truncated.json");
        File.WriteAllText(truncated, json[..(json.Length / 2)]);
        CliResult.Run("replay", truncated).AssertUsageError($"irplab: cannot read schedule '{truncated}': ");

        string noProcessors = dir.File("p0.json");
        File.WriteAllText(noProcessors, Regex.Replace(json, "\"processors\": \\d+", "\"processors\": 0"));
        CliResult.Run("replay", noProcessors)
            .AssertUsageError($"irplab: cannot read schedule '{noProcessors}': processors must be between 1 and 64 (got 0)");
    }

    [Fact]
    public void Explore_FixedSample_NoFailure_ExitZero()
    {
        using var dir = new TempDirectory();
        string path = dir.File("none.json");
        CliResult r = CliResult.Run("explore", "race-startio-cancel-fixed", "--iterations", "20", "--out", path);
        Assert.Equal(Program.ExitOk, r.ExitCode);
        Assert.False(File.Exists(path));
    }

    // docs/exploration.md, "Samples that time themselves": their applications check elapsed times, which early
    // timers break (every schedule with --explore-timeouts, none without).
    [Theory]
    [InlineData("async-ioctl")]
    [InlineData("startio")]
    [InlineData("startio-custom-queues")]
    public void Explore_TimedSample_PassesWithoutEarlyTimers_FailsItsOwnCheckWithThem(string sample)
    {
        using var dir = new TempDirectory();
        string path = dir.File("t.json");
        Assert.Equal(Program.ExitOk, CliResult.Run("explore", sample, "--iterations", "5", "--out", path).ExitCode);

        CliResult timed = CliResult.Run("explore", sample, "--iterations", "5", "--explore-timeouts", "--out", path);
        Assert.Equal(Program.ExitFailureFound, timed.ExitCode);
        Assert.Contains($"The application of sample '{sample}' exited with 1", timed.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("Bugcheck Analysis", timed.Stdout, StringComparison.Ordinal);
    }
}
