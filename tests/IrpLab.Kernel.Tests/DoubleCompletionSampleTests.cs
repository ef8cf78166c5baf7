using IrpLab.Samples.DoubleCompletion;

namespace IrpLab.Tests;

/// <summary>
/// The double-completion sample: with the verifier, packets are never recycled and the second completion is 0x44
/// with the IRP's history; without it, the second completion lands on the recycled packet of the next read.
/// </summary>
public sealed class DoubleCompletionSampleTests
{
    private static Machine NewMachine(ulong seed, bool verifier)
        => new(new MachineOptions { Deterministic = true, Seed = seed, Verifier = verifier, CaptureTrace = true });

    private static string[] AppLines(Machine m)
        => [.. m.Trace.Events.Where(e => e.Kind == TraceEventKind.ConsoleOutput).Select(e => e.Text.TrimEnd('\n'))];

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    public void DoubleCompletion_VerifierOn_SecondCompletionStopsWithTheIrpHistory(ulong seed)
    {
        using Machine m = NewMachine(seed, verifier: true);
        BugCheckInfo stop = Assert.Throws<BugCheckException>(() => Host.Run(m)).BugCheck;

        Assert.Equal(BugCheckCatalogue.MULTIPLE_IRP_COMPLETE_REQUESTS, stop.Code);
        Assert.Equal("RecordsWorker", stop.FaultingRoutine);
        Assert.Equal(MachineClock.TicksPerSecond, stop.Time);
        Assert.Contains("Completed by RecordsRead with STATUS_SUCCESS", stop.Diagnosis, StringComparison.Ordinal);
        Assert.Contains("Freed", stop.Diagnosis, StringComparison.Ordinal);

        // Stopped before the second read could be harmed.
        Assert.Equal(["record 0: 512 bytes after 0 ms, 'AAA...'"], AppLines(m));
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    public void DoubleCompletion_VerifierOff_NextReadCompletesEarlyWithTheWrongRecord(ulong seed)
    {
        using Machine m = NewMachine(seed, verifier: false);
        Assert.Equal(NtStatus.STATUS_SUCCESS, m.LoadDriver("Records", Driver.DriverEntry));

        int exit = m.Run("app", App.Main);

        Assert.Equal(1, exit);
        string[] lines = AppLines(m);
        Assert.Equal("record 1: 512 bytes after 1000 ms, 'AAA...'", lines[1]);
        Assert.StartsWith("record 1 is wrong", lines[2], StringComparison.Ordinal);

        // The worker's own completion of the second read comes a second later, on a packet that is free by then:
        // the kernel's check stops the machine, with no history to explain it.
        BugCheckInfo stop = Assert.Throws<BugCheckException>(() => m.UnloadDriver("Records")).BugCheck;
        Assert.Equal(BugCheckCatalogue.MULTIPLE_IRP_COMPLETE_REQUESTS, stop.Code);
        Assert.Equal(2 * MachineClock.TicksPerSecond, stop.Time);
        Assert.DoesNotContain("History of", stop.Diagnosis, StringComparison.Ordinal);
    }
}
