using IrpLab.Samples;

namespace IrpLab.Tests;

/// <summary>Every sample runs to completion and its application observes what its README promises (exit code 0).</summary>
public sealed class SamplesTests
{
    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (Sample s in SampleCatalog.All)
        {
            data.Add(s.Name);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Sample_Deterministic_AppSucceedsWithoutBugCheck(string name)
    {
        Sample sample = SampleCatalog.Find(name)!;
        foreach (ulong seed in new ulong[] { 1, 2, 3 })
        {
            using var machine = new Machine(new MachineOptions { Deterministic = true, Seed = seed, CaptureTrace = true });
            if (sample.ExpectedBugCheck is uint code)
            {
                BugCheckException stop = Assert.Throws<BugCheckException>(() => sample.Run(machine));
                Assert.Equal(code, stop.BugCheck.Code);
                continue;
            }

            if (sample.Expectation != SampleExpectation.NoFailure)
            {
                // A racy sample: only some schedules fail; exploring it is the explorer tests' business.
                continue;
            }

            int exit = sample.Run(machine);
            Assert.True(exit == 0, $"{name} with seed {seed} exited {exit}:\n{machine.Trace.ToDebugViewText()}");
            Assert.Null(machine.BugCheck);
        }
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Sample_SameSeed_SameLog(string name)
    {
        Sample sample = SampleCatalog.Find(name)!;
        string Run()
        {
            using var machine = new Machine(new MachineOptions { Deterministic = true, Seed = 11, CaptureTrace = true, TraceLevel = TraceLevel.Verbose });
            try
            {
                sample.Run(machine);
            }
            catch (Exception) when (sample.Expectation != SampleExpectation.NoFailure)
            {
            }

            return string.Join('\n', machine.Trace.Events.Select(e => e.ToString()));
        }

        Assert.Equal(Run(), Run());
    }

    [Fact]
    public void Catalog_ListsEverySeedExample()
    {
        string[] expected =
        [
            "system-thread", "async-ioctl", "sync-completion-surprise", "sync-read", "overlapped-read",
            "readfileex-apc", "pending-irp-queue", "cancel-routine", "startio", "startio-seed-wait",
            "startio-custom-queues", "interrupt-dpc",
        ];
        Assert.All(expected, n => Assert.NotNull(SampleCatalog.Find(n)));
    }
}
