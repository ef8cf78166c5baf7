using IrpLab.Scheduling;
using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Tests;

/// <summary>Determinism: same seed same trace, record and replay (docs/determinism.md).</summary>
public sealed class ReplayTests
{
    private static Machine NewMachine(ISchedulingStrategy? strategy = null, ulong seed = 0)
        => new(new MachineOptions
        {
            Deterministic = true,
            Seed = seed,
            Strategy = strategy,
            CaptureTrace = true,
            TraceLevel = TraceLevel.Verbose,
        });

    /// <summary>
    /// Three workers share a counter under a spin lock, hand a synchronization event around, delay for different
    /// intervals and print what they saw; the main thread pulses a notification event meanwhile.
    /// </summary>
    private static void RacyScenario(Machine machine)
    {
        var spinLock = new KSpinLock();
        int shared = 0;
        machine.RunKernel("main", () =>
        {
            KeInitializeSpinLock(spinLock);
            KEvent baton = K.Event(SynchronizationEvent, state: TRUE);
            KEvent tick = K.Event(NotificationEvent);
            KEvent poke = K.Event(NotificationEvent);
            var workers = new KThread[3];
            for (int w = 0; w < workers.Length; w++)
            {
                int id = w;
                workers[w] = K.StartThread(() =>
                {
                    for (int i = 0; i < 4; i++)
                    {
                        KeAcquireSpinLock(spinLock, out byte old);
                        int seen = shared;
                        KeSetEvent(poke, 0, FALSE);
                        shared = seen + 1;
                        KeReleaseSpinLock(spinLock, old);

                        NtStatus s = KeWaitForSingleObject(baton, Executive, KernelMode, FALSE, RELATIVE(MILLISECONDS(1 + id)));
                        DbgPrint("worker %d round %d saw %d baton %s\n", id, i, seen, s == STATUS_SUCCESS ? "taken" : "missed");
                        if (s == STATUS_SUCCESS)
                        {
                            KeSetEvent(baton, 0, FALSE);
                        }

                        KeWaitForSingleObject(tick, Executive, KernelMode, FALSE, 0);
                        KeDelayExecutionThread(KernelMode, FALSE, RELATIVE(MICROSECONDS(100 * (id + 1))));
                    }
                });
            }

            for (int i = 0; i < 3; i++)
            {
                KePulseEvent(tick, 0, FALSE);
                KeDelayExecutionThread(KernelMode, FALSE, RELATIVE(MICROSECONDS(250)));
            }

            K.Join(workers);
            DbgPrint("shared = %d\n", shared);
        });
    }

    private static string[] TraceOf(Machine machine) => [.. machine.Trace.Events.Select(e => e.ToString())];

    private static string[] RunWithSeed(ulong seed)
    {
        using Machine machine = NewMachine(seed: seed);
        RacyScenario(machine);
        return TraceOf(machine);
    }

    [Fact]
    public void ReplayStrategy_RecordedRandomSchedule_ReproducesTheTraceExactly()
    {
        var recording = new RecordingStrategy(new RandomStrategy(42));
        string[] recorded;
        using (Machine machine = NewMachine(recording))
        {
            RacyScenario(machine);
            recorded = TraceOf(machine);
        }

        Assert.NotEmpty(recording.Decisions);
        Assert.Contains(recording.Decisions, d => d.IsThreadChoice);

        var replay = new ReplayStrategy(recording.Decisions);
        string[] replayed;
        using (Machine machine = NewMachine(replay))
        {
            RacyScenario(machine);
            replayed = TraceOf(machine);
        }

        Assert.False(replay.Diverged);
        Assert.Equal(recording.Decisions.Count, replay.Position);
        Assert.Equal(recorded, replayed);
        Assert.Contains(recorded, l => l.Contains("shared = 12", StringComparison.Ordinal));
    }

    [Fact]
    public void ReplayStrategy_RecordingOfADifferentRun_ReportsDivergence()
    {
        var recording = new RecordingStrategy(new RandomStrategy(5));
        using (Machine machine = NewMachine(recording))
        {
            machine.RunKernel("short", () =>
            {
                KThread t = K.StartThread(() => K.LetOthersRun());
                K.Join(t);
            });
        }

        var replay = new ReplayStrategy(recording.Decisions);
        using (Machine machine = NewMachine(replay))
        {
            RacyScenario(machine);
        }

        Assert.True(replay.Diverged);
    }

    [Fact]
    public void RandomStrategy_SameSeed_IdenticalTrace()
    {
        string[] first = RunWithSeed(7);
        string[] second = RunWithSeed(7);
        Assert.Equal(first, second);
    }

    [Fact]
    public void RandomStrategy_DifferentSeeds_ProduceDifferentInterleavings()
    {
        var distinct = new HashSet<string>();
        for (ulong seed = 1; seed <= 20; seed++)
        {
            distinct.Add(string.Join('\n', RunWithSeed(seed)));
        }

        Assert.True(distinct.Count >= 2, $"20 seeds produced {distinct.Count} distinct trace(s)");
    }

    [Fact]
    public void ScheduleDecisions_OfARun_AreOnlyAskedWhenThereIsAChoice()
    {
        var recording = new RecordingStrategy(new RandomStrategy(3));
        using Machine machine = NewMachine(recording);
        RacyScenario(machine);
        Assert.All(recording.Decisions, d => Assert.InRange(d.Value, 0, d.Options - 1));
        Assert.All(recording.Decisions, d => Assert.True(d.Options >= 2));
        Assert.Equal(machine.SchedulingChoices, recording.Decisions.Count);
    }

    private static BugCheckInfo CrashingDriverThread(ulong seed)
    {
        using Machine machine = NewMachine(seed: seed);
        BugCheckException ex = Assert.Throws<BugCheckException>(() => machine.RunKernel("main", () =>
        {
            KThread t = K.StartThread(() =>
            {
                KeDelayExecutionThread(KernelMode, FALSE, RELATIVE(MILLISECONDS(5)));
                throw new InvalidOperationException("driver bug");
            });
            K.Join(t);
        }));
        return ex.BugCheck;
    }

    [Fact]
    public void BugCheck_ExceptionInDriverThread_ParametersArePseudoAddressesAndTheReportRepeats()
    {
        BugCheckInfo first = CrashingDriverThread(9);
        BugCheckInfo second = CrashingDriverThread(9);

        Assert.Equal(BugCheckCatalogue.SYSTEM_THREAD_EXCEPTION_NOT_HANDLED, first.Code);
        Assert.Equal(unchecked((ulong)(uint)STATUS_CLR_EXCEPTION), first.Parameter1);

        // docs/determinism.md: bug check parameters are pseudo addresses, so the same seed gives the same bytes in
        // every process (a runtime hash code would differ from one process to the next).
        Assert.Equal(0xFFFF_A000_0000_0000ul, first.Parameter2 & 0xFFFF_F000_0000_0000ul);
        Assert.Equal(first.ToString(), second.ToString());
        Assert.Equal(first.Analyze(), second.Analyze());
    }
}
