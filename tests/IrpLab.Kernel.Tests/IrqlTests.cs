using System.Diagnostics;
using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Tests;

/// <summary>
/// IRQL rules (nt-io-semantics §10.1, §10.2) and the bug checks that enforce them
/// (verifier-and-exploration.md A.1, A.1.1): a stopped machine unwinds every thread and leaves the host unharmed.
/// </summary>
public sealed class IrqlTests
{
    [Fact]
    public void KeRaiseIrqlAndKeLowerIrql_RaiseThenRestore_ReportTheCurrentLevel()
    {
        using Machine machine = TestMachine.Deterministic();
        var seen = new List<byte>();
        byte oldFromDispatch = 0xFF, oldFromApc = 0xFF;
        machine.Kernel(() =>
        {
            seen.Add(KeGetCurrentIrql());
            KeRaiseIrql(APC_LEVEL, out oldFromApc);
            seen.Add(KeGetCurrentIrql());
            KeRaiseIrql(DISPATCH_LEVEL, out oldFromDispatch);
            seen.Add(KeGetCurrentIrql());
            KeRaiseIrql(DISPATCH_LEVEL, out _); // raising to the current level is allowed
            KeLowerIrql(oldFromDispatch);
            seen.Add(KeGetCurrentIrql());
            KeLowerIrql(oldFromApc);
            seen.Add(KeGetCurrentIrql());
            Assert.Equal(PASSIVE_LEVEL, KeRaiseIrqlToDpcLevel());
            seen.Add(KeGetCurrentIrql());
            KeLowerIrql(PASSIVE_LEVEL);
        });

        Assert.Equal(PASSIVE_LEVEL, oldFromApc);
        Assert.Equal(APC_LEVEL, oldFromDispatch);
        Assert.Equal([PASSIVE_LEVEL, APC_LEVEL, DISPATCH_LEVEL, APC_LEVEL, PASSIVE_LEVEL, DISPATCH_LEVEL], seen);
    }

    [Fact]
    public void KeRaiseIrql_BelowCurrentWithVerifier_BugChecks0xC4Subcode0x30()
    {
        using Machine machine = TestMachine.Deterministic(verifier: true);
        BugCheckInfo bc = machine.ExpectBugCheck(() =>
        {
            KeRaiseIrql(DISPATCH_LEVEL, out _);
            KeRaiseIrql(APC_LEVEL, out _);
        });

        // A.1.1: 0x30 | current IRQL | requested IRQL | 0.
        Assert.Equal(BugCheckCatalogue.DRIVER_VERIFIER_DETECTED_VIOLATION, bc.Code);
        Assert.Equal((0x30ul, 2ul, 1ul, 0ul), (bc.Parameter1, bc.Parameter2, bc.Parameter3, bc.Parameter4));
        Assert.Equal(DISPATCH_LEVEL, bc.Irql);
    }

    [Fact]
    public void KeRaiseIrql_BelowCurrentWithoutVerifier_BugChecksIrqlNotGreaterOrEqual()
    {
        using Machine machine = TestMachine.Deterministic(verifier: false);
        BugCheckInfo bc = machine.ExpectBugCheck(() =>
        {
            KeRaiseIrql(DISPATCH_LEVEL, out _);
            KeRaiseIrql(PASSIVE_LEVEL, out _);
        });

        Assert.Equal(0x09u, bc.Code);
        Assert.Equal("IRQL_NOT_GREATER_OR_EQUAL", bc.Name);
        Assert.Equal((2ul, 0ul), (bc.Parameter1, bc.Parameter2));
    }

    [Fact]
    public void KeLowerIrql_AboveCurrentWithVerifier_BugChecks0xC4Subcode0x31()
    {
        using Machine machine = TestMachine.Deterministic(verifier: true);
        BugCheckInfo bc = machine.ExpectBugCheck(() => KeLowerIrql(DISPATCH_LEVEL));

        // A.1.1: 0x31 | current IRQL | requested IRQL | 0.
        Assert.Equal(0xC4u, bc.Code);
        Assert.Equal((0x31ul, 0ul, 2ul), (bc.Parameter1, bc.Parameter2, bc.Parameter3));
    }

    [Fact]
    public void KeLowerIrql_AboveCurrentWithoutVerifier_BugChecksIrqlNotLessOrEqual()
    {
        using Machine machine = TestMachine.Deterministic(verifier: false);
        BugCheckInfo bc = machine.ExpectBugCheck(() =>
        {
            KeRaiseIrql(APC_LEVEL, out _);
            KeLowerIrql(DISPATCH_LEVEL);
        });

        Assert.Equal(0x0Au, bc.Code);
        Assert.Equal("IRQL_NOT_LESS_OR_EQUAL", bc.Name);
        Assert.Equal(1ul, bc.Parameter2);
    }

    [Theory]
    [InlineData(true, 0x122ul)]
    [InlineData(false, 0x121ul)]
    public void KeWaitForSingleObject_AtDispatchLevelWithVerifier_BugChecks0xC4(bool finiteTimeout, ulong subcode)
    {
        using Machine machine = TestMachine.Deterministic();
        KEvent ev = K.Event(NotificationEvent);
        BugCheckInfo bc = machine.ExpectBugCheck(() =>
        {
            KeRaiseIrql(DISPATCH_LEVEL, out _);
            KeWaitForSingleObject(ev, Executive, KernelMode, FALSE, finiteTimeout ? K.OneSecond : null);
        });

        // A.1.1: 0x121 infinite / 0x122 non-zero timeout at DISPATCH_LEVEL; P2 IRQL, P3 the object, P4 the timeout.
        Assert.Equal(0xC4u, bc.Code);
        Assert.Equal(subcode, bc.Parameter1);
        Assert.Equal((ulong)DISPATCH_LEVEL, bc.Parameter2);
        Assert.Equal(ev.DebugAddress(machine), bc.Parameter3);
        Assert.Equal(finiteTimeout ? unchecked((ulong)K.OneSecond) : 0ul, bc.Parameter4);
    }

    [Fact]
    public void KeWaitForSingleObject_AtDispatchLevelWithoutVerifier_BugChecksIrqlNotLessOrEqual()
    {
        using Machine machine = TestMachine.Deterministic(verifier: false);
        BugCheckInfo bc = machine.ExpectBugCheck(() =>
        {
            KeRaiseIrql(DISPATCH_LEVEL, out _);
            KeWaitForSingleObject(K.Event(NotificationEvent), Executive, KernelMode, FALSE, null);
        });

        Assert.Equal(0x0Au, bc.Code);
        Assert.Equal((ulong)DISPATCH_LEVEL, bc.Parameter2);
    }

    [Fact]
    public void KeWaitForSingleObject_AtDispatchLevelWithZeroTimeout_IsAllowed()
    {
        using Machine machine = TestMachine.Deterministic();
        NtStatus notSignaled = STATUS_PENDING, signaled = STATUS_PENDING;
        machine.Kernel(() =>
        {
            KEvent ev = K.Event(NotificationEvent);
            KeRaiseIrql(DISPATCH_LEVEL, out byte old);

            // §10.4: *Timeout == 0 = poll, allowed at DISPATCH_LEVEL.
            notSignaled = K.Poll(ev);
            KeSetEvent(ev, 0, FALSE);
            signaled = K.Poll(ev);
            KeLowerIrql(old);
        });

        Assert.Equal(STATUS_TIMEOUT, notSignaled);
        Assert.Equal(STATUS_SUCCESS, signaled);
    }

    [Fact]
    public void KeSetEvent_WaitTrueAtDispatchLevel_BugChecks()
    {
        // §10.1: KeSetEvent with Wait = TRUE may only be called at ≤ APC_LEVEL.
        using Machine machine = TestMachine.Deterministic();
        BugCheckInfo bc = machine.ExpectBugCheck(() =>
        {
            KeRaiseIrql(DISPATCH_LEVEL, out _);
            KeSetEvent(K.Event(NotificationEvent), 0, TRUE);
        });

        Assert.Equal(0xC4u, bc.Code);
        Assert.Equal(0xE5ul, bc.Parameter1);
    }

    [Fact]
    public void SystemCall_ReturningToUserModeAtRaisedIrql_BugChecks0x4A()
    {
        using Machine machine = TestMachine.Deterministic();
        BugCheckException ex = Assert.Throws<BugCheckException>(() => machine.Run("app", () =>
        {
            Handle ev = Kernel32.CreateEvent(null, TRUE, FALSE, null);

            // Stands in for a driver routine that left the IRQL raised on this thread before a system call returns.
            KeRaiseIrql(DISPATCH_LEVEL, out _);
            Kernel32.SetEvent(ev);
            return 0;
        }));

        // A.1: IRQL_GT_ZERO_AT_SYSTEM_SERVICE | system-call routine | current IRQL | 0 | 0.
        Assert.Equal(0x4Au, ex.BugCheck.Code);
        Assert.Equal("IRQL_GT_ZERO_AT_SYSTEM_SERVICE", ex.BugCheck.Name);
        Assert.Equal((ulong)DISPATCH_LEVEL, ex.BugCheck.Parameter2);
    }

    // ------------------------------------------------------------------ a stop unwinds everything and spares the host

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void BugCheck_OtherThreadsWaitingDelayingAndSpinning_AreUnwoundAndTheHostIsUnharmed(bool deterministic)
    {
        var threads = new List<KThread>();
        var stopwatch = Stopwatch.StartNew();
        using (Machine machine = TestMachine.Create(deterministic, seed: 17))
        {
            var spinLock = new KSpinLock();
            BugCheckInfo bc = machine.ExpectBugCheck(() =>
            {
                KeInitializeSpinLock(spinLock);
                KEvent never = K.Event(NotificationEvent);
                KEvent started = K.Event(NotificationEvent);
                threads.Add(KeGetCurrentThread());
                threads.Add(K.StartThread(() => K.WaitForever(never)));
                threads.Add(K.StartThread(() =>
                {
                    while (true)
                    {
                        KeDelayExecutionThread(KernelMode, FALSE, RELATIVE(MILLISECONDS(1)));
                    }
                }));
                threads.Add(K.StartThread(() =>
                {
                    KeSetEvent(started, 0, FALSE);
                    KeAcquireSpinLock(spinLock, out byte old);
                    KeReleaseSpinLock(spinLock, old);
                }));

                KeAcquireSpinLock(spinLock, out _);
                K.Poll(started);
                KeAcquireSpinLock(spinLock, out _); // recursive: 0x0F
            });

            Assert.Equal(BugCheckCatalogue.SPIN_LOCK_ALREADY_OWNED, bc.Code);
            foreach (KThread t in threads)
            {
                Assert.True(t.OsThread is null || t.HostExited.Wait(TimeSpan.FromSeconds(10)), t + " was not unwound");
            }

            // A stopped machine refuses further work with the same bug check.
            Assert.Throws<BugCheckException>(() => machine.RunKernel("again", () => { }));
        }

        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(4), $"stopping took {stopwatch.Elapsed}");
        Assert.All(threads, t => Assert.True(t.OsThread is null || t.State == KThreadState.Terminated));

        // A second, new machine works.
        using Machine next = TestMachine.Create(deterministic, seed: 17);
        NtStatus status = STATUS_PENDING;
        next.Kernel(() =>
        {
            KEvent ev = K.Event(SynchronizationEvent);
            KThread setter = K.StartThread(() => KeSetEvent(ev, 0, FALSE));
            status = K.WaitForever(ev);
            K.Join(setter);
        });
        Assert.Equal(STATUS_SUCCESS, status);
    }
}
