using static IrpLab.Wdm;

namespace IrpLab.Tests.Verifier;

/// <summary>
/// Deadlock Detection for spin locks (verifier-and-exploration.md A.2, A.5 item 4): a graph of acquisition orders,
/// and DRIVER_VERIFIER_DETECTED_VIOLATION 0xC4/0x1001 at the first order that closes a cycle.
/// </summary>
public sealed class DeadlockDetectionTests
{
    private static Machine NewMachine(ulong seed = 1, bool verifier = true)
        => new(new MachineOptions { Deterministic = true, Seed = seed, Verifier = verifier, MaxSteps = 500_000 });

    private static void Nested(KSpinLock outer, KSpinLock inner)
    {
        KeAcquireSpinLock(outer, out byte old);
        KeAcquireSpinLockAtDpcLevel(inner);
        KeReleaseSpinLockFromDpcLevel(inner);
        KeReleaseSpinLock(outer, old);
    }

    private static ulong AddressOf(KSpinLock l) => l.DebugAddress(KeGetCurrentThread().Machine);

    [Fact]
    public void KeAcquireSpinLock_TwoLocksInBothOrdersOneAfterTheOther_LockHierarchyViolation()
    {
        using Machine m = NewMachine();
        KSpinLock a = new(), b = new();
        ulong addressA = 0, addressB = 0;
        BugCheckInfo stop = m.ExpectBugCheck(() =>
        {
            addressA = AddressOf(a);
            addressB = AddressOf(b);
            Nested(a, b);

            // Never concurrent, never deadlocked: the reverse order alone is the violation.
            Nested(b, a);
        });

        Assert.Equal(BugCheckCatalogue.DRIVER_VERIFIER_DETECTED_VIOLATION, stop.Code);
        Assert.Equal(0x1001UL, stop.Parameter1);
        Assert.Equal(addressA, stop.Parameter2);
        Assert.Equal(addressB, stop.Parameter3);
    }

    [Fact]
    public void KeAcquireSpinLock_ThreeLocksInACycle_LockHierarchyViolationNamesThePath()
    {
        using Machine m = NewMachine();
        KSpinLock a = new(), b = new(), c = new();
        ulong addressA = 0, addressC = 0;
        BugCheckInfo stop = m.ExpectBugCheck(() =>
        {
            addressA = AddressOf(a);
            addressC = AddressOf(c);
            Nested(a, b);
            Nested(b, c);
            Nested(c, a);
        });

        Assert.Equal(0x1001UL, stop.Parameter1);
        Assert.Equal(addressA, stop.Parameter2);
        Assert.Equal(addressC, stop.Parameter3);
        Assert.Contains(addressA.ToString("X", System.Globalization.CultureInfo.InvariantCulture) + " then", stop.Diagnosis, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    public void KeAcquireSpinLock_SameOrderInEveryThread_NoViolation(ulong seed)
    {
        using Machine m = NewMachine(seed);
        KSpinLock a = new(), b = new(), c = new();
        m.Kernel(() =>
        {
            KThread[] threads = [.. Enumerable.Range(0, 3).Select(_ => K.StartThread(() =>
            {
                for (int i = 0; i < 5; i++)
                {
                    KeAcquireSpinLock(a, out byte old);
                    KeAcquireSpinLockAtDpcLevel(b);
                    KeAcquireSpinLockAtDpcLevel(c);
                    KeReleaseSpinLockFromDpcLevel(b);
                    KeReleaseSpinLockFromDpcLevel(c);
                    KeReleaseSpinLock(a, old);
                    Nested(b, c);
                }
            }))];
            K.Join(threads);
        });

        Assert.Null(m.BugCheck);
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    [InlineData(4UL)]
    [InlineData(5UL)]
    public void KeAcquireSpinLock_TwoThreadsInOppositeOrders_ViolationInsteadOfADeadlock(ulong seed)
    {
        // Whatever the interleaving, the second order is seen before a thread spins on the lock the other holds.
        using Machine m = NewMachine(seed);
        KSpinLock a = new(), b = new();
        BugCheckInfo stop = m.ExpectBugCheck(() => K.Join(K.StartThread(() => Nested(a, b)), K.StartThread(() => Nested(b, a))));

        Assert.Equal(BugCheckCatalogue.DRIVER_VERIFIER_DETECTED_VIOLATION, stop.Code);
        Assert.Equal(0x1001UL, stop.Parameter1);
    }

    [Fact]
    public void KeAcquireSpinLock_OppositeOrdersWithoutVerifier_NotChecked()
    {
        using Machine m = NewMachine(verifier: false);
        KSpinLock a = new(), b = new();
        m.Kernel(() =>
        {
            Nested(a, b);
            Nested(b, a);
        });

        Assert.Null(m.BugCheck);
    }

    [Fact]
    public void KeAcquireSpinLock_ReleasedOutOfOrder_HeldLocksStayAccurate()
    {
        using Machine m = NewMachine();
        KSpinLock a = new(), b = new(), c = new();
        m.Kernel(() =>
        {
            // a, b taken; a released before b. Nothing is held afterwards.
            KeAcquireSpinLock(a, out byte old);
            KeAcquireSpinLockAtDpcLevel(b);
            KeReleaseSpinLockFromDpcLevel(a);
            KeReleaseSpinLock(b, old);

            // So taking c records nothing, and c before a is the only order between them.
            Nested(c, a);
        });

        Assert.Null(m.BugCheck);
    }
}
