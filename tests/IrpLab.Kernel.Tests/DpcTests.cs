using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Tests;

/// <summary>KeDpc (ReactOS kmtests ntos_ke/KeDpc.c in spirit): single-queue semantics, importance, flush, checks.</summary>
public sealed class DpcTests
{
    private sealed class Probe
    {
        public int Runs;
        public byte Irql = 0xFF;
        public bool InDpc;
        public bool OnServiceThread;
        public bool InSystemProcess;
        public object? Context;
        public object? Argument1;
        public object? Argument2;
        public int Processor = -1;
        public readonly List<string> Order = [];
    }

    private static void ProbeDpc(KDpc Dpc, object? DeferredContext, object? SystemArgument1, object? SystemArgument2)
    {
        var probe = (Probe)DeferredContext!;
        KThread thread = KeGetCurrentThread();
        probe.Runs++;
        probe.Irql = KeGetCurrentIrql();
        probe.InDpc = thread.InDpc;
        probe.OnServiceThread = thread.IsService;
        probe.InSystemProcess = thread.Process.IsSystem;
        probe.Context = DeferredContext;
        probe.Argument1 = SystemArgument1;
        probe.Argument2 = SystemArgument2;
        probe.Processor = (int)KeGetCurrentProcessorNumber();
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    public void KeInsertQueueDpc_NotQueued_RunsOnceAtDispatchLevelOnADpcThread(ulong seed)
    {
        using Machine m = KmTest.Machine(seed);
        var probe = new Probe();
        var dpc = new KDpc();
        bool inserted = false;
        KDpcImportance importance = default;
        m.RunKernel("test", () =>
        {
            KeInitializeDpc(dpc, ProbeDpc, probe);
            importance = dpc.Importance;
            inserted = KeInsertQueueDpc(dpc, 0xabc123, 0x5678);
            KeFlushQueuedDpcs();
        });

        Assert.Equal(MediumImportance, importance);
        Assert.True(inserted);
        Assert.Equal(1, probe.Runs);
        Assert.Equal(DISPATCH_LEVEL, probe.Irql);
        Assert.True(probe.InDpc);
        Assert.True(probe.OnServiceThread);
        Assert.True(probe.InSystemProcess);
        Assert.Same(probe, probe.Context);
        Assert.Equal(0xabc123, probe.Argument1);
        Assert.Equal(0x5678, probe.Argument2);
        Assert.False(dpc.IsQueued);
    }

    [Fact]
    public void KeInsertQueueDpc_AlreadyQueued_ReturnsFalseAndKeepsTheFirstArguments()
    {
        using Machine m = KmTest.Machine(processors: 1);
        var probe = new Probe();
        var dpc = new KDpc();
        bool first = false;
        bool second = true;
        int runsWhileRaised = -1;
        m.RunKernel("test", () =>
        {
            KeInitializeDpc(dpc, ProbeDpc, probe);
            KeRaiseIrql(DISPATCH_LEVEL, out byte old);
            first = KeInsertQueueDpc(dpc, 0xabc123, 0x5678);
            second = KeInsertQueueDpc(dpc, 0xdef, 0x123);

            // One processor, held at DISPATCH_LEVEL: the DPC can only run once the IRQL drops.
            runsWhileRaised = probe.Runs;
            KeLowerIrql(old);
            KeFlushQueuedDpcs();
        });

        Assert.True(first);
        Assert.False(second);
        Assert.Equal(0, runsWhileRaised);
        Assert.Equal(1, probe.Runs);
        Assert.Equal(0xabc123, probe.Argument1);
        Assert.Equal(0x5678, probe.Argument2);
    }

    [Fact]
    public void KeRemoveQueueDpc_QueuedThenNot_ReturnsTrueThenFalseAndTheDpcNeverRuns()
    {
        using Machine m = KmTest.Machine(processors: 1);
        var probe = new Probe();
        var dpc = new KDpc();
        bool beforeInsert = true;
        bool inserted = false;
        bool removed = false;
        bool removedTwice = true;
        m.RunKernel("test", () =>
        {
            KeInitializeDpc(dpc, ProbeDpc, probe);
            KeRaiseIrql(DISPATCH_LEVEL, out byte old);
            beforeInsert = KeRemoveQueueDpc(dpc);
            inserted = KeInsertQueueDpc(dpc, null, null);
            removed = KeRemoveQueueDpc(dpc);
            removedTwice = KeRemoveQueueDpc(dpc);
            KeLowerIrql(old);
            KeFlushQueuedDpcs();
        });

        Assert.False(beforeInsert);
        Assert.True(inserted);
        Assert.True(removed);
        Assert.False(removedTwice);
        Assert.Equal(0, probe.Runs);
    }

    [Fact]
    public void KeSetImportanceDpc_HighImportance_RunsAheadOfQueuedDpcs()
    {
        using Machine m = KmTest.Machine(processors: 1);
        var probe = new Probe();
        KDpc a = new(), b = new(), low = new(), high = new();
        KDeferredRoutine record = (dpc, context, arg1, arg2) => probe.Order.Add((string)context!);
        m.RunKernel("test", () =>
        {
            KeInitializeDpc(a, record, "a");
            KeInitializeDpc(b, record, "b");
            KeInitializeDpc(low, record, "low");
            KeInitializeDpc(high, record, "high");
            KeSetImportanceDpc(low, LowImportance);
            KeSetImportanceDpc(high, HighImportance);
            KeRaiseIrql(DISPATCH_LEVEL, out byte old);
            KeInsertQueueDpc(a, null, null);
            KeInsertQueueDpc(b, null, null);
            KeInsertQueueDpc(low, null, null);
            KeInsertQueueDpc(high, null, null);
            KeLowerIrql(old);
            KeFlushQueuedDpcs();
        });

        Assert.Equal(["high", "a", "b", "low"], probe.Order);
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(5UL)]
    public void KeFlushQueuedDpcs_DpcsOnEveryProcessor_AllHaveRunOnTheirTargetsWhenItReturns(ulong seed)
    {
        using Machine m = KmTest.Machine(seed, processors: 2);
        Probe p0 = new(), p1 = new();
        KDpc d0 = new(), d1 = new();
        m.RunKernel("test", () =>
        {
            KeInitializeDpc(d0, ProbeDpc, p0);
            KeInitializeDpc(d1, ProbeDpc, p1);
            KeSetTargetProcessorDpc(d0, 0);
            KeSetTargetProcessorDpc(d1, 1);
            KeInsertQueueDpc(d0, null, null);
            KeInsertQueueDpc(d1, null, null);
            KeFlushQueuedDpcs();
        });

        Assert.Equal(1, p0.Runs);
        Assert.Equal(1, p1.Runs);
        Assert.Equal(0, p0.Processor);
        Assert.Equal(1, p1.Processor);
    }

    [Fact]
    public void KeInsertQueueDpc_FromItsOwnRoutine_QueuesItAgain()
    {
        using Machine m = KmTest.Machine();
        var done = new KEvent();
        var dpc = new KDpc();
        int runs = 0;
        var requeued = new List<bool>();
        m.RunKernel("test", () =>
        {
            KeInitializeEvent(done, NotificationEvent, FALSE);
            KeInitializeDpc(dpc, (d, context, arg1, arg2) =>
            {
                if (++runs < 5)
                {
                    // Once its routine runs the DPC is no longer queued, so it can be queued again.
                    requeued.Add(KeInsertQueueDpc(d, null, null));
                }
                else
                {
                    KeSetEvent(done, 0, FALSE);
                }
            }, null);
            KeInsertQueueDpc(dpc, null, null);
            KeWaitForSingleObject(done, Executive, KernelMode, FALSE, null);
        });

        Assert.Equal(5, runs);
        Assert.Equal([true, true, true, true], requeued);
    }

    private static void WaitingDpc(KDpc Dpc, object? DeferredContext, object? SystemArgument1, object? SystemArgument2)
    {
        var timeout = (long?)DeferredContext;
        var ev = new KEvent();
        KeInitializeEvent(ev, NotificationEvent, FALSE);
        KeWaitForSingleObject(ev, Executive, KernelMode, FALSE, timeout);
    }

    private static void RunDpcInDriver(Machine m, KDeferredRoutine routine, object? context)
    {
        var dpc = new KDpc();
        KmTest.RunAsDriver(m, "DpcDrv", _ =>
        {
            KeInitializeDpc(dpc, routine, context);
            KeInsertQueueDpc(dpc, null, null);
            KeFlushQueuedDpcs();
        });
    }

    [Fact]
    public void KeWaitForSingleObject_InDpcWithoutVerifier_BugChecksAttemptedSwitchFromDpc()
    {
        using Machine m = KmTest.Machine(verifier: false);
        BugCheckInfo bc = KmTest.BugCheck(() => RunDpcInDriver(m, WaitingDpc, null));
        Assert.Equal(BugCheckCatalogue.ATTEMPTED_SWITCH_FROM_DPC, bc.Code);
        Assert.Equal("DpcDrv", bc.FaultingDriver);
        Assert.Equal(nameof(WaitingDpc), bc.FaultingRoutine);
    }

    [Theory]
    [InlineData(null, 0x121UL)]
    [InlineData(-10_000L, 0x122UL)]
    public void KeWaitForSingleObject_InDpcWithVerifier_BugChecksC4WaitAtDispatch(long? timeout, ulong subcode)
    {
        using Machine m = KmTest.Machine(verifier: true);
        BugCheckInfo bc = KmTest.BugCheck(() => RunDpcInDriver(m, WaitingDpc, timeout));
        Assert.Equal(BugCheckCatalogue.DRIVER_VERIFIER_DETECTED_VIOLATION, bc.Code);
        Assert.Equal(subcode, bc.Parameter1);
        Assert.Equal(nameof(WaitingDpc), bc.FaultingRoutine);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void KeWaitForSingleObject_InDpcWithZeroTimeout_PollsWithoutBugCheck(bool verifier)
    {
        using Machine m = KmTest.Machine(verifier: verifier);
        NtStatus status = STATUS_PENDING;
        RunDpcInDriver(m, (dpc, context, arg1, arg2) =>
        {
            var ev = new KEvent();
            KeInitializeEvent(ev, NotificationEvent, FALSE);
            status = KeWaitForSingleObject(ev, Executive, KernelMode, FALSE, 0);
        }, null);
        Assert.Equal(STATUS_TIMEOUT, status);
        Assert.Null(m.BugCheck);
    }

    private static void ThrowingDpc(KDpc Dpc, object? DeferredContext, object? SystemArgument1, object? SystemArgument2)
        => throw new InvalidOperationException("bad DPC");

    [Fact]
    public void DpcRoutine_Throws_BugChecksAttributedToTheRoutine()
    {
        using Machine m = KmTest.Machine();
        BugCheckInfo bc = KmTest.BugCheck(() => RunDpcInDriver(m, ThrowingDpc, null));
        Assert.Equal(BugCheckCatalogue.SYSTEM_THREAD_EXCEPTION_NOT_HANDLED, bc.Code);
        Assert.Equal("DpcDrv", bc.FaultingDriver);
        Assert.Equal(nameof(ThrowingDpc), bc.FaultingRoutine);
        Assert.IsType<InvalidOperationException>(bc.Exception);
    }

    [Fact]
    public void DpcRoutine_ReturnsAtHighLevel_BugChecksIrqlUnexpectedValue()
    {
        using Machine m = KmTest.Machine();
        BugCheckInfo bc = KmTest.BugCheck(() => RunDpcInDriver(m, (dpc, context, arg1, arg2) => KeRaiseIrql(HIGH_LEVEL, out _), null));
        Assert.Equal(BugCheckCatalogue.IRQL_UNEXPECTED_VALUE, bc.Code);
        Assert.Equal(((ulong)HIGH_LEVEL << 16) | ((ulong)DISPATCH_LEVEL << 8) | 2, bc.Parameter1);
    }

    [Theory]
    [InlineData(false, 0x4UL)]
    [InlineData(true, 0UL)]
    public void DpcRoutine_AcquiresMutex_BugChecksC7UnlessItReleasesIt(bool release, ulong subcode)
    {
        using Machine m = KmTest.Machine();
        var mutex = new KMutex();
        void Run() => RunDpcInDriver(m, (dpc, context, arg1, arg2) =>
        {
            // A zero timeout is legal at DISPATCH_LEVEL; owning a mutex disables kernel APCs.
            KeWaitForSingleObject(mutex, Executive, KernelMode, FALSE, 0);
            if (release)
            {
                KeReleaseMutex(mutex, FALSE);
            }
        }, null);

        if (release)
        {
            Run();
            Assert.Null(m.BugCheck);
        }
        else
        {
            BugCheckInfo bc = KmTest.BugCheck(Run);
            Assert.Equal(BugCheckCatalogue.TIMER_OR_DPC_INVALID, bc.Code);
            Assert.Equal(subcode, bc.Parameter1);
            Assert.Equal(0UL, bc.Parameter3);
            Assert.Equal(1UL, bc.Parameter4);
        }
    }

    [Fact]
    public void KeInsertQueueDpc_TargetProcessorMissing_BugChecksC7BadProcessor()
    {
        using Machine m = KmTest.Machine(processors: 2);
        var dpc = new KDpc();
        BugCheckInfo bc = KmTest.BugCheck(() => m.RunKernel("test", () =>
        {
            KeInitializeDpc(dpc, ProbeDpc, new Probe());
            KeSetTargetProcessorDpc(dpc, 5);
            KeInsertQueueDpc(dpc, null, null);
        }));
        Assert.Equal(BugCheckCatalogue.TIMER_OR_DPC_INVALID, bc.Code);
        Assert.Equal(0x3UL, bc.Parameter1);
        Assert.Equal(5UL, bc.Parameter3);
        Assert.Equal(2UL, bc.Parameter4);
    }

    [Fact]
    public void KeInitializeDpc_WhileQueued_BugChecksC7()
    {
        using Machine m = KmTest.Machine(processors: 1);
        var dpc = new KDpc();
        BugCheckInfo bc = KmTest.BugCheck(() => m.RunKernel("test", () =>
        {
            KeInitializeDpc(dpc, ProbeDpc, new Probe());
            KeRaiseIrql(DISPATCH_LEVEL, out _);
            KeInsertQueueDpc(dpc, null, null);
            KeInitializeDpc(dpc, ProbeDpc, new Probe());
        }));
        Assert.Equal(BugCheckCatalogue.TIMER_OR_DPC_INVALID, bc.Code);
        Assert.Equal(0x1UL, bc.Parameter1);
    }

    [Fact]
    public void Deadlock_WithIdleDpcThreads_IsStillDetectedAndLeavesThemOut()
    {
        using Machine m = KmTest.Machine();
        var dpc = new KDpc();
        var never = new KEvent();
        DeadlockException ex = Assert.Throws<DeadlockException>(() => m.RunKernel("stuck", () =>
        {
            KeInitializeDpc(dpc, ProbeDpc, new Probe());
            KeInsertQueueDpc(dpc, null, null);
            KeFlushQueuedDpcs();
            KeInitializeEvent(never, NotificationEvent, FALSE);
            KeWaitForSingleObject(never, Executive, KernelMode, FALSE, null);
        }));

        Assert.Contains("\"stuck\"", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("\"DPC", ex.Message, StringComparison.Ordinal);
        Assert.Contains("idle service thread", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Trace_Verbose_RecordsDpcQueuedAndDpcExecuted()
    {
        using Machine m = KmTest.Machine(verbose: true);
        var dpc = new KDpc();
        m.RunKernel("test", () =>
        {
            KeInitializeDpc(dpc, ProbeDpc, new Probe());
            KeInsertQueueDpc(dpc, null, null);
            KeFlushQueuedDpcs();
        });

        IReadOnlyList<TraceEvent> events = m.Trace.Events;
        TraceEvent queued = Assert.Single(events, e => e.Kind == TraceEventKind.DpcQueued);
        TraceEvent executed = Assert.Single(events, e => e.Kind == TraceEventKind.DpcExecuted);
        Assert.Contains(nameof(ProbeDpc), queued.Text, StringComparison.Ordinal);
        Assert.Equal(DISPATCH_LEVEL, executed.Irql);
        Assert.True(executed.Sequence > queued.Sequence);
    }

    private sealed class Spinner
    {
        public readonly KEvent Started = new();
        public readonly KEvent Tick = new();
        public volatile bool Release;
    }

    /// <summary>A DPC that keeps its processor (with scheduling points) until released.</summary>
    private static void SpinningDpc(KDpc Dpc, object? DeferredContext, object? SystemArgument1, object? SystemArgument2)
    {
        var spinner = (Spinner)DeferredContext!;
        KeSetEvent(spinner.Started, 0, FALSE);
        while (!spinner.Release)
        {
            KeSetEvent(spinner.Tick, 0, FALSE);
        }
    }

    private static void QueuedBehindDpc(KDpc Dpc, object? DeferredContext, object? SystemArgument1, object? SystemArgument2)
    {
    }

    private static void LoadDriverWithBusyDpcs(Machine m, bool cleanUpInUnload)
    {
        var spinner = new Spinner();
        KDpc busy = new(), queued = new();
        KmTest.RunAsDriver(m, "DpcDrv", driver =>
        {
            KeInitializeEvent(spinner.Started, NotificationEvent, FALSE);
            KeInitializeEvent(spinner.Tick, SynchronizationEvent, FALSE);
            KeInitializeDpc(busy, SpinningDpc, spinner);
            KeInitializeDpc(queued, QueuedBehindDpc, null);
            KeSetTargetProcessorDpc(busy, 1);
            KeSetTargetProcessorDpc(queued, 1);
            driver.DriverUnload = _ =>
            {
                KeInsertQueueDpc(busy, null, null);
                KeWaitForSingleObject(spinner.Started, Executive, KernelMode, FALSE, null);

                // Processor 1's DPC thread is busy with the spinning DPC: this one stays queued behind it.
                KeInsertQueueDpc(queued, null, null);
                if (cleanUpInUnload)
                {
                    spinner.Release = true;
                    KeFlushQueuedDpcs();
                }
            };
        });
    }

    [Fact]
    public void DriverUnload_WithADpcQueuedAndOneRunning_BugChecksCE()
    {
        using Machine m = KmTest.Machine(processors: 2);
        LoadDriverWithBusyDpcs(m, cleanUpInUnload: false);
        BugCheckInfo bc = KmTest.BugCheck(() => m.UnloadDriver("DpcDrv"));
        Assert.Equal(BugCheckCatalogue.DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS, bc.Code);
        Assert.Equal("DpcDrv", bc.FaultingDriver);
        Assert.Contains("DPC " + nameof(SpinningDpc), bc.Diagnosis, StringComparison.Ordinal);
        Assert.Contains("still running", bc.Diagnosis, StringComparison.Ordinal);
        Assert.Contains("DPC " + nameof(QueuedBehindDpc), bc.Diagnosis, StringComparison.Ordinal);
        Assert.Contains("queued", bc.Diagnosis, StringComparison.Ordinal);
    }

    [Fact]
    public void DriverUnload_FlushesItsDpcs_UnloadsCleanly()
    {
        using Machine m = KmTest.Machine(processors: 2);
        LoadDriverWithBusyDpcs(m, cleanUpInUnload: true);
        Assert.Equal(STATUS_SUCCESS, m.UnloadDriver("DpcDrv"));
        Assert.Null(m.BugCheck);
    }

    private static string[] RunPingPong(ulong seed)
    {
        using Machine m = KmTest.Machine(seed, verbose: true);
        KDpc a = new(), b = new();
        var done = new KEvent();
        int count = 0;
        m.RunKernel("pingpong", () =>
        {
            KeInitializeEvent(done, NotificationEvent, FALSE);
            KeInitializeDpc(a, (d, c, x, y) => KeInsertQueueDpc(b, null, null), null);
            KeInitializeDpc(b, (d, c, x, y) =>
            {
                if (++count < 4)
                {
                    KeInsertQueueDpc(a, null, null);
                }
                else
                {
                    KeSetEvent(done, 0, FALSE);
                }
            }, null);
            KeSetTargetProcessorDpc(b, 1);
            KeInsertQueueDpc(a, null, null);
            KeWaitForSingleObject(done, Executive, KernelMode, FALSE, null);
        });
        return m.Trace.Events.Select(e => e.ToString()).ToArray();
    }

    [Fact]
    public void Dpcs_SameSeed_IdenticalTrace()
    {
        Assert.Equal(RunPingPong(11), RunPingPong(11));
    }

    [Fact]
    public void KeFlushQueuedDpcs_RealMode_WaitsForTheDpc()
    {
        using var m = new Machine(new MachineOptions { Deterministic = false, Processors = 2 });
        var probe = new Probe();
        var dpc = new KDpc();
        m.RunKernel("test", () =>
        {
            KeInitializeDpc(dpc, ProbeDpc, probe);
            KeInsertQueueDpc(dpc, 1, 2);
            KeFlushQueuedDpcs();
        });

        Assert.Equal(1, probe.Runs);
        Assert.Equal(DISPATCH_LEVEL, probe.Irql);
    }
}
