using IrpLab.Samples;

namespace IrpLab.Tests;

public sealed class SystemThreadSampleTests
{
    private static (string Log, Machine Machine) RunSample(ulong seed)
    {
        var machine = new Machine(new MachineOptions { Deterministic = true, Seed = seed, CaptureTrace = true });
        SampleCatalog.Find("system-thread")!.Run(machine);
        return (machine.Trace.ToDebugViewText(), machine);
    }

    [Fact]
    public void SystemThread_Deterministic_PrintsOncePerVirtualSecondAndStops()
    {
        (string log, Machine machine) = RunSample(1);
        using (machine)
        {
            string[] lines = log.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            string[] ticks = lines.Where(l => l.Contains("ThreadProc() has run for", StringComparison.Ordinal)).ToArray();
            Assert.InRange(ticks.Length, 9, 10);
            Assert.Contains("\t1.00000000\t^_^ ThreadProc() has run for 1 seconds!", ticks[0], StringComparison.Ordinal);
            Assert.Contains("\t9.00000000\t^_^ ThreadProc() has run for 9 seconds!", ticks[8], StringComparison.Ordinal);
            Assert.EndsWith("^_^ ThreadProc() stopped!", lines[^1].TrimEnd('\r'), StringComparison.Ordinal);
            Assert.Equal(10 * MachineClock.TicksPerSecond, machine.Clock.InterruptTime);
        }
    }

    [Fact]
    public void SystemThread_SameSeed_IdenticalTrace()
    {
        (string first, Machine a) = RunSample(7);
        (string second, Machine b) = RunSample(7);
        using (a)
        using (b)
        {
            Assert.Equal(first, second);
            Assert.Equal(
                a.Trace.Events.Select(e => e.ToString()),
                b.Trace.Events.Select(e => e.ToString()));
        }
    }
}
