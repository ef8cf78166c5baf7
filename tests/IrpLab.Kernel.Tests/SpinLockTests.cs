using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Tests;

/// <summary>KSPIN_LOCK (nt-io-semantics §10.2) and the processor rule of the deterministic scheduler.</summary>
public sealed class SpinLockTests
{
    private const int Seeds = 200;
    private const int Iterations = 8;

    private enum Guard
    {
        None,
        SpinLock,
        RaiseToDispatch,
    }

    [Fact]
    public void KeAcquireSpinLock_FromPassive_RaisesToDispatchAndReleaseRestores()
    {
        using Machine machine = TestMachine.Deterministic();
        var seen = new List<byte>();
        byte old = 0xFF, oldFromApc = 0xFF;
        bool heldInside = false, heldAfter = true;
        machine.Kernel(() =>
        {
            var spinLock = new KSpinLock();
            KeInitializeSpinLock(spinLock);
            Assert.True(KeTestSpinLock(spinLock));
            KeAcquireSpinLock(spinLock, out old);
            seen.Add(KeGetCurrentIrql());
            heldInside = spinLock.IsHeld;
            KeReleaseSpinLock(spinLock, old);
            seen.Add(KeGetCurrentIrql());
            heldAfter = spinLock.IsHeld;

            KeRaiseIrql(APC_LEVEL, out byte passive);
            KeAcquireSpinLock(spinLock, out oldFromApc);
            seen.Add(KeGetCurrentIrql());
            KeReleaseSpinLock(spinLock, oldFromApc);
            seen.Add(KeGetCurrentIrql());
            KeLowerIrql(passive);
        });

        // §10.2: KeAcquireSpinLock raises to DISPATCH_LEVEL; KeReleaseSpinLock releases and restores.
        Assert.Equal(PASSIVE_LEVEL, old);
        Assert.Equal(APC_LEVEL, oldFromApc);
        Assert.Equal([DISPATCH_LEVEL, PASSIVE_LEVEL, DISPATCH_LEVEL, APC_LEVEL], seen);
        Assert.True(heldInside);
        Assert.False(heldAfter);
    }

    [Fact]
    public void KeAcquireSpinLockAtDpcLevel_AtDispatch_LeavesIrqlUnchanged()
    {
        using Machine machine = TestMachine.Deterministic();
        machine.Kernel(() =>
        {
            var spinLock = new KSpinLock();
            KeInitializeSpinLock(spinLock);
            KeRaiseIrql(DISPATCH_LEVEL, out byte old);
            KeAcquireSpinLockAtDpcLevel(spinLock);
            Assert.Equal(DISPATCH_LEVEL, KeGetCurrentIrql());
            Assert.False(KeTestSpinLock(spinLock));
            KeReleaseSpinLockFromDpcLevel(spinLock);
            Assert.Equal(DISPATCH_LEVEL, KeGetCurrentIrql());
            Assert.True(KeTestSpinLock(spinLock));
            KeLowerIrql(old);
        });
    }

    [Fact]
    public void KeAcquireSpinLock_AlreadyHeldByThisThread_BugChecksSpinLockAlreadyOwned()
    {
        using Machine machine = TestMachine.Deterministic();
        var spinLock = new KSpinLock();
        BugCheckInfo bc = machine.ExpectBugCheck(() =>
        {
            KeAcquireSpinLock(spinLock, out _);
            KeAcquireSpinLock(spinLock, out _);
        });

        // §10.2: spin locks are not recursive.
        Assert.Equal(0x0Fu, bc.Code);
        Assert.Equal("SPIN_LOCK_ALREADY_OWNED", bc.Name);
        Assert.Equal(spinLock.DebugAddress(machine), bc.Parameter1);
    }

    [Fact]
    public void KeReleaseSpinLock_NotHeld_BugChecksSpinLockNotOwned()
    {
        using Machine machine = TestMachine.Deterministic();
        var spinLock = new KSpinLock();
        BugCheckInfo bc = machine.ExpectBugCheck(() =>
        {
            KeAcquireSpinLock(spinLock, out byte old);
            KeReleaseSpinLock(spinLock, old);
            KeRaiseIrql(DISPATCH_LEVEL, out _);
            KeReleaseSpinLock(spinLock, old); // a double release
        });

        Assert.Equal(0x10u, bc.Code);
        Assert.Equal("SPIN_LOCK_NOT_OWNED", bc.Name);
        Assert.Equal(spinLock.DebugAddress(machine), bc.Parameter1);
    }

    [Fact]
    public void KeReleaseSpinLockFromDpcLevel_BelowDispatch_BugChecks0xC4Subcode0x41()
    {
        using Machine machine = TestMachine.Deterministic();
        var spinLock = new KSpinLock();
        BugCheckInfo bc = machine.ExpectBugCheck(() =>
        {
            KeRaiseIrql(DISPATCH_LEVEL, out byte old);
            KeAcquireSpinLockAtDpcLevel(spinLock);
            KeLowerIrql(old);
            KeReleaseSpinLockFromDpcLevel(spinLock);
        });

        // A.1.1: 0x41 | IRQL | spin lock | 0.
        Assert.Equal(0xC4u, bc.Code);
        Assert.Equal((0x41ul, (ulong)PASSIVE_LEVEL, spinLock.DebugAddress(machine), 0ul), (bc.Parameter1, bc.Parameter2, bc.Parameter3, bc.Parameter4));
    }

    [Fact]
    public void KeAcquireSpinLockAtDpcLevel_BelowDispatch_BugChecks0xC4Subcode0x40()
    {
        using Machine machine = TestMachine.Deterministic();
        var spinLock = new KSpinLock();
        BugCheckInfo bc = machine.ExpectBugCheck(() => KeAcquireSpinLockAtDpcLevel(spinLock));
        Assert.Equal(0xC4u, bc.Code);
        Assert.Equal((0x40ul, (ulong)PASSIVE_LEVEL, spinLock.DebugAddress(machine)), (bc.Parameter1, bc.Parameter2, bc.Parameter3));
    }

    [Fact]
    public void KeReleaseSpinLock_IrqlChangedWhileHeld_BugChecks0xC4Subcode0x32()
    {
        using Machine machine = TestMachine.Deterministic();
        var spinLock = new KSpinLock();
        BugCheckInfo bc = machine.ExpectBugCheck(() =>
        {
            KeAcquireSpinLock(spinLock, out byte old);
            KeLowerIrql(APC_LEVEL);
            KeReleaseSpinLock(spinLock, old);
        });

        // A.1.1: 0x32 | IRQL | spin lock | 0: KeReleaseSpinLock at IRQL ≠ DISPATCH_LEVEL.
        Assert.Equal(0xC4u, bc.Code);
        Assert.Equal((0x32ul, (ulong)APC_LEVEL, spinLock.DebugAddress(machine)), (bc.Parameter1, bc.Parameter2, bc.Parameter3));
    }

    [Fact]
    public void KeAcquireSpinLock_AboveDispatch_BugChecks0xC4Subcode0x42()
    {
        using Machine machine = TestMachine.Deterministic();
        var spinLock = new KSpinLock();
        BugCheckInfo bc = machine.ExpectBugCheck(() =>
        {
            KeRaiseIrql(HIGH_LEVEL, out _);
            KeAcquireSpinLock(spinLock, out _);
        });

        // A.1.1: 0x42 | IRQL | spin lock | 0.
        Assert.Equal(0xC4u, bc.Code);
        Assert.Equal((0x42ul, (ulong)HIGH_LEVEL, spinLock.DebugAddress(machine)), (bc.Parameter1, bc.Parameter2, bc.Parameter3));
    }

    // ------------------------------------------------------------------ mutual exclusion over many seeds

    [Theory]
    [InlineData(2)]
    [InlineData(1)]
    public void KeAcquireSpinLock_ReadModifyWriteAcrossTwoThreads_NoUpdateIsLostUnderAnySeed(int processors)
    {
        for (ulong seed = 1; seed <= Seeds; seed++)
        {
            (int counter, _) = RunCounter(seed, processors, Guard.SpinLock);
            Assert.True(counter == 2 * Iterations, $"seed {seed}, {processors} processor(s): counter {counter}, expected {2 * Iterations}");
        }
    }

    [Fact]
    public void Scheduler_UnguardedReadModifyWrite_LosesUpdatesUnderSomeSeed()
    {
        // The control for the test above: the critical section does contain a scheduling point.
        bool lost = false;
        for (ulong seed = 1; seed <= Seeds && !lost; seed++)
        {
            lost = RunCounter(seed, 2, Guard.None).Counter < 2 * Iterations;
        }

        Assert.True(lost);
    }

    [Fact]
    public void Scheduler_OneProcessor_ThreadAtDispatchLevelIsNeverPreemptedByPassiveThread()
    {
        for (ulong seed = 1; seed <= Seeds; seed++)
        {
            (int counter, bool passiveRanInside) = RunCounter(seed, 1, Guard.RaiseToDispatch);
            Assert.False(passiveRanInside, $"seed {seed}: a PASSIVE_LEVEL thread ran while another thread was at DISPATCH_LEVEL");
            Assert.Equal(2 * Iterations, counter);
        }
    }

    [Fact]
    public void Scheduler_TwoProcessors_PassiveThreadRunsBesideThreadAtDispatchLevelUnderSomeSeed()
    {
        // The control: on two processors raising alone does not exclude the other thread.
        bool sawOverlap = false;
        for (ulong seed = 1; seed <= Seeds && !sawOverlap; seed++)
        {
            sawOverlap = RunCounter(seed, 2, Guard.RaiseToDispatch).PassiveRanInside;
        }

        Assert.True(sawOverlap);
    }

    /// <summary>
    /// Two system threads increment a counter with a scheduling point between the read and the write (KeSetEvent is
    /// legal at DISPATCH_LEVEL). A third thread at PASSIVE_LEVEL watches for either of them being inside.
    /// </summary>
    private static (int Counter, bool PassiveRanInside) RunCounter(ulong seed, int processors, Guard guard)
    {
        using Machine machine = TestMachine.Deterministic(seed, processors);
        var spinLock = new KSpinLock();
        int counter = 0;
        int inside = 0;
        bool passiveRanInside = false;
        machine.Kernel(() =>
        {
            KeInitializeSpinLock(spinLock);
            KEvent poke = K.Event(NotificationEvent);
            KEvent stop = K.Event(NotificationEvent);
            void Increment()
            {
                for (int i = 0; i < Iterations; i++)
                {
                    byte old = PASSIVE_LEVEL;
                    if (guard == Guard.SpinLock)
                    {
                        KeAcquireSpinLock(spinLock, out old);
                    }
                    else if (guard == Guard.RaiseToDispatch)
                    {
                        KeRaiseIrql(DISPATCH_LEVEL, out old);
                    }

                    inside++;
                    int v = counter;
                    KeSetEvent(poke, 0, FALSE);
                    counter = v + 1;
                    inside--;

                    if (guard == Guard.SpinLock)
                    {
                        KeReleaseSpinLock(spinLock, old);
                    }
                    else if (guard == Guard.RaiseToDispatch)
                    {
                        KeLowerIrql(old);
                    }
                }
            }

            KThread watcher = K.StartThread(() =>
            {
                while (K.Poll(stop) == STATUS_TIMEOUT)
                {
                    passiveRanInside |= inside > 0;
                }
            });
            KThread a = K.StartThread(Increment);
            KThread b = K.StartThread(Increment);
            K.Join(a, b);
            KeSetEvent(stop, 0, FALSE);
            K.Join(watcher);
        });

        return (counter, passiveRanInside);
    }
}
