using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Tests;

/// <summary>KeTimer (ReactOS kmtests ntos_ke/KeTimer.c in spirit), in virtual time.</summary>
public sealed class TimerTests
{
    private const long OneSecond = 10_000_000;

    [Theory]
    [InlineData(NotificationTimer, DispatcherObjectType.TimerNotificationObject)]
    [InlineData(SynchronizationTimer, DispatcherObjectType.TimerSynchronizationObject)]
    public void KeInitializeTimerEx_EitherType_NotSignaledNotQueuedWithHeaderType(TimerType type, DispatcherObjectType header)
    {
        using Machine m = KmTest.Machine();
        var timer = new KTimer();
        bool state = true;
        m.RunKernel("test", () =>
        {
            KeInitializeTimerEx(timer, type);
            state = KeReadStateTimer(timer);
        });

        Assert.Equal(header, timer.Header.Type);
        Assert.Equal(0, timer.Header.SignalState);
        Assert.False(state);
        Assert.False(timer.IsQueued);
        Assert.Equal(type, timer.TimerType);
    }

    [Fact]
    public void KeSetTimer_RelativeDueTime_SignalsExactlyThen()
    {
        using Machine m = KmTest.Machine();
        var timer = new KTimer();
        NtStatus status = STATUS_PENDING;
        long woke = 0;
        bool wasQueued = true;
        bool stateAfter = false;
        m.RunKernel("test", () =>
        {
            KeInitializeTimer(timer);
            wasQueued = KeSetTimer(timer, -2 * OneSecond, null);
            status = KeWaitForSingleObject(timer, Executive, KernelMode, FALSE, null);
            woke = (long)KeQueryInterruptTime();
            stateAfter = KeReadStateTimer(timer);
        });

        Assert.False(wasQueued);
        Assert.Equal(STATUS_SUCCESS, status);
        Assert.Equal(2 * OneSecond, woke);
        Assert.True(stateAfter);
        Assert.False(timer.IsQueued);
    }

    [Fact]
    public void KeSetTimer_AbsoluteDueTime_SignalsAtThatSystemTime()
    {
        using Machine m = KmTest.Machine();
        var timer = new KTimer();
        long due = 0;
        long woke = 0;
        m.RunKernel("test", () =>
        {
            KeInitializeTimer(timer);
            KeDelayExecutionThread(KernelMode, FALSE, -OneSecond / 2);
            KeQuerySystemTime(out LargeInteger now);
            due = now + (3 * OneSecond);
            KeSetTimer(timer, due, null);
            KeWaitForSingleObject(timer, Executive, KernelMode, FALSE, null);
            KeQuerySystemTime(out LargeInteger after);
            woke = after;
        });

        Assert.Equal(due, woke);
        Assert.Equal(3 * OneSecond + (OneSecond / 2), m.Clock.InterruptTime);
    }

    [Fact]
    public void KeSetTimer_AlreadyQueued_ReturnsTrueAndCancelsTheEarlierExpiry()
    {
        using Machine m = KmTest.Machine();
        var timer = new KTimer();
        var dpc = new KDpc();
        var expiries = new List<long>();
        bool second = false;
        m.RunKernel("test", () =>
        {
            KeInitializeTimer(timer);
            KeInitializeDpc(dpc, (d, c, a1, a2) => expiries.Add((long)KeQueryInterruptTime()), null);
            KeSetTimer(timer, -OneSecond, dpc);
            second = KeSetTimer(timer, -3 * OneSecond, dpc);
            KeWaitForSingleObject(timer, Executive, KernelMode, FALSE, null);
            KeFlushQueuedDpcs();

            // Nothing else is due: the first expiry is gone.
            KeDelayExecutionThread(KernelMode, FALSE, -5 * OneSecond);
        });

        Assert.True(second);
        Assert.Equal([3 * OneSecond], expiries);
    }

    [Fact]
    public void KeSetTimer_SignaledTimer_BecomesNonSignaledUntilItExpiresAgain()
    {
        using Machine m = KmTest.Machine();
        var timer = new KTimer();
        var states = new List<bool>();
        m.RunKernel("test", () =>
        {
            KeInitializeTimer(timer);
            KeSetTimer(timer, -OneSecond, null);
            KeWaitForSingleObject(timer, Executive, KernelMode, FALSE, null);
            states.Add(KeReadStateTimer(timer));
            KeSetTimer(timer, -OneSecond, null);
            states.Add(KeReadStateTimer(timer));
            KeWaitForSingleObject(timer, Executive, KernelMode, FALSE, null);
            states.Add(KeReadStateTimer(timer));
        });

        Assert.Equal([true, false, true], states);
    }

    [Fact]
    public void KeCancelTimer_QueuedThenNotThenExpired_ReturnsTrueFalseFalse()
    {
        using Machine m = KmTest.Machine();
        var timer = new KTimer();
        var results = new List<bool>();
        NtStatus waited = STATUS_PENDING;
        m.RunKernel("test", () =>
        {
            KeInitializeTimer(timer);
            KeSetTimer(timer, -OneSecond, null);
            results.Add(KeCancelTimer(timer));
            results.Add(KeCancelTimer(timer));

            // A cancelled timer never signals.
            waited = KeWaitForSingleObject(timer, Executive, KernelMode, FALSE, -2 * OneSecond);
            KeSetTimer(timer, -OneSecond, null);
            KeWaitForSingleObject(timer, Executive, KernelMode, FALSE, null);
            results.Add(KeCancelTimer(timer));
        });

        Assert.Equal([true, false, false], results);
        Assert.Equal(STATUS_TIMEOUT, waited);
    }

    [Fact]
    public void KeSetTimerEx_Periodic_FiresOncePerPeriodInVirtualTime()
    {
        using Machine m = KmTest.Machine();
        var timer = new KTimer();
        var dpc = new KDpc();
        var fifth = new KEvent();
        var expiries = new List<long>();
        bool cancelled = false;
        m.RunKernel("test", () =>
        {
            KeInitializeTimer(timer);
            KeInitializeEvent(fifth, NotificationEvent, FALSE);
            KeInitializeDpc(dpc, (d, c, a1, a2) =>
            {
                expiries.Add((long)KeQueryInterruptTime());
                if (expiries.Count == 5)
                {
                    KeSetEvent(fifth, 0, FALSE);
                }
            }, null);
            KeSetTimerEx(timer, -10 * 10_000, 10, dpc);
            KeWaitForSingleObject(fifth, Executive, KernelMode, FALSE, null);

            // Always TRUE for an active periodic timer.
            cancelled = KeCancelTimer(timer);
            KeFlushQueuedDpcs();
        });

        Assert.True(cancelled);
        Assert.Equal([100_000L, 200_000L, 300_000L, 400_000L, 500_000L], expiries);
    }

    [Fact]
    public void TimerDpc_RunsAtDispatchLevelWithItsDeferredContextAndTheExpiryTime()
    {
        using Machine m = KmTest.Machine();
        var timer = new KTimer();
        var dpc = new KDpc();
        object context = new();
        object? seenContext = null;
        byte irql = 0xFF;
        bool inDpc = false;
        long systemTime = 0;
        long expected = 0;
        m.RunKernel("test", () =>
        {
            KeInitializeTimer(timer);
            KeInitializeDpc(dpc, (d, c, a1, a2) =>
            {
                seenContext = c;
                irql = KeGetCurrentIrql();
                inDpc = KeGetCurrentThread().InDpc;
                systemTime = (long)(((ulong)(uint)a2! << 32) | (uint)a1!);
            }, context);
            KeQuerySystemTime(out LargeInteger now);
            expected = now + OneSecond;
            KeSetTimer(timer, -OneSecond, dpc);
            KeWaitForSingleObject(timer, Executive, KernelMode, FALSE, null);
            KeFlushQueuedDpcs();
        });

        Assert.Same(context, seenContext);
        Assert.Equal(DISPATCH_LEVEL, irql);
        Assert.True(inDpc);
        Assert.Equal(expected, systemTime);
    }

    private static (int Woken, int TimedOut, bool StateAfter) WaitTwice(TimerType type, ulong seed)
    {
        using Machine m = KmTest.Machine(seed);
        var timer = new KTimer();
        int woken = 0;
        int timedOut = 0;
        bool state = false;
        m.RunKernel("test", () =>
        {
            KeInitializeTimerEx(timer, type);
            var waiters = new KThread[2];
            for (int i = 0; i < waiters.Length; i++)
            {
                PsCreateSystemThread(out Handle h, THREAD_ALL_ACCESS, null, null, null, _ =>
                {
                    NtStatus s = KeWaitForSingleObject(timer, Executive, KernelMode, FALSE, -5 * OneSecond);
                    if (s == STATUS_SUCCESS)
                    {
                        Interlocked.Increment(ref woken);
                    }
                    else if (s == STATUS_TIMEOUT)
                    {
                        Interlocked.Increment(ref timedOut);
                    }
                }, null);
                ObReferenceObjectByHandle(h, SYNCHRONIZE, PsThreadType, KernelMode, out waiters[i], null);
                ZwClose(h);
            }

            // Let both threads block before the timer expires.
            KeDelayExecutionThread(KernelMode, FALSE, -OneSecond / 10);
            KeSetTimer(timer, -OneSecond, null);
            foreach (KThread w in waiters)
            {
                KeWaitForSingleObject(w, Executive, KernelMode, FALSE, null);
                ObDereferenceObject(w);
            }

            state = KeReadStateTimer(timer);
        });

        return (woken, timedOut, state);
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(4UL)]
    public void NotificationTimer_Expires_ReleasesEveryWaiterAndStaysSignaled(ulong seed)
    {
        (int woken, int timedOut, bool state) = WaitTwice(NotificationTimer, seed);
        Assert.Equal(2, woken);
        Assert.Equal(0, timedOut);
        Assert.True(state);
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(4UL)]
    public void SynchronizationTimer_Expires_ReleasesOneWaiterAndResets(ulong seed)
    {
        (int woken, int timedOut, bool state) = WaitTwice(SynchronizationTimer, seed);
        Assert.Equal(1, woken);
        Assert.Equal(1, timedOut);
        Assert.False(state);
    }

    [Fact]
    public void KeInitializeTimer_WhileQueued_BugChecksC7()
    {
        using Machine m = KmTest.Machine();
        var timer = new KTimer();
        BugCheckInfo bc = KmTest.BugCheck(() => m.RunKernel("test", () =>
        {
            KeInitializeTimer(timer);
            KeSetTimer(timer, -OneSecond, null);
            KeInitializeTimer(timer);
        }));
        Assert.Equal(BugCheckCatalogue.TIMER_OR_DPC_INVALID, bc.Code);
        Assert.Equal(0x0UL, bc.Parameter1);
    }

    private static void TimerDriver(Machine m, bool cancelInUnload, bool flush)
    {
        var timer = new KTimer();
        var dpc = new KDpc();
        KmTest.RunAsDriver(m, "TimerDrv", driver =>
        {
            KeInitializeTimer(timer);
            KeInitializeDpc(dpc, (d, c, a1, a2) => { }, null);
            KeSetTimerEx(timer, -OneSecond, 1000, dpc);
            driver.DriverUnload = _ =>
            {
                if (cancelInUnload)
                {
                    KeCancelTimer(timer);
                }

                if (flush)
                {
                    KeFlushQueuedDpcs();
                }
            };
        });
    }

    [Fact]
    public void DriverUnload_WithATimerStillQueued_BugChecksCE()
    {
        using Machine m = KmTest.Machine();
        TimerDriver(m, cancelInUnload: false, flush: false);
        BugCheckInfo bc = KmTest.BugCheck(() => m.UnloadDriver("TimerDrv"));
        Assert.Equal(BugCheckCatalogue.DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS, bc.Code);
        Assert.Equal("TimerDrv", bc.FaultingDriver);
        Assert.Contains("timer", bc.Diagnosis, StringComparison.Ordinal);
        Assert.Contains("periodic", bc.Diagnosis, StringComparison.Ordinal);
        Assert.Contains("KeCancelTimer", bc.Diagnosis, StringComparison.Ordinal);
    }

    [Fact]
    public void DriverUnload_CancelsItsTimer_UnloadsCleanly()
    {
        using Machine m = KmTest.Machine();
        TimerDriver(m, cancelInUnload: true, flush: true);
        Assert.Equal(STATUS_SUCCESS, m.UnloadDriver("TimerDrv"));
        Assert.Null(m.BugCheck);
    }

    [Fact]
    public void KeSetTimer_RealModeDueNow_SignalsAndRunsItsDpc()
    {
        using var m = new Machine(new MachineOptions { Deterministic = false, Processors = 2 });
        var timer = new KTimer();
        var dpc = new KDpc();
        var ran = new KEvent();
        NtStatus status = STATUS_PENDING;
        m.RunKernel("test", () =>
        {
            KeInitializeTimer(timer);
            KeInitializeEvent(ran, NotificationEvent, FALSE);
            KeInitializeDpc(dpc, (d, c, a1, a2) => KeSetEvent(ran, 0, FALSE), null);

            // An absolute due time in the past: the timer expires at once.
            KeSetTimer(timer, 0, dpc);
            status = KeWaitForSingleObject(timer, Executive, KernelMode, FALSE, null);
            KeWaitForSingleObject(ran, Executive, KernelMode, FALSE, null);
        });

        Assert.Equal(STATUS_SUCCESS, status);
        Assert.Null(m.BugCheck);
    }
}
