using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Tests;

/// <summary>KeDeviceQueue (ReactOS kmtests ntos_ke/KeDevQueue.c in spirit): the Busy rules and key ordering.</summary>
public sealed class DeviceQueueTests
{
    private const int InsertCount = 5;

    /// <summary>Runs <paramref name="body"/> at DISPATCH_LEVEL on a kernel thread.</summary>
    private static void AtDispatchLevel(Action body, bool verifier = true)
    {
        using Machine m = KmTest.Machine(verifier: verifier);
        m.RunKernel("devqueue", () =>
        {
            KeRaiseIrql(DISPATCH_LEVEL, out byte old);
            body();
            KeLowerIrql(old);
        });
    }

    private static uint[] Keys(KDeviceQueue queue) => queue.Entries.Select(e => e.SortKey).ToArray();

    [Fact]
    public void KeInitializeDeviceQueue_BusyQueue_IsEmptyAndNotBusy()
    {
        var queue = new KDeviceQueue();
        bool busyBefore = false;
        AtDispatchLevel(() =>
        {
            KeInsertDeviceQueue(queue, new KDeviceQueueEntry());
            KeInsertDeviceQueue(queue, new KDeviceQueueEntry());
            busyBefore = queue.Busy;
            KeInitializeDeviceQueue(queue);
        });

        Assert.True(busyBefore);
        Assert.False(queue.Busy);
        Assert.Equal(0, queue.Count);
    }

    [Fact]
    public void KeInsertDeviceQueue_IdleThenBusy_FirstMakesBusyWithoutInsertingThenAppends()
    {
        var queue = new KDeviceQueue();
        var first = new KDeviceQueueEntry();
        var entries = Enumerable.Range(0, InsertCount).Select(_ => new KDeviceQueueEntry()).ToArray();
        bool firstResult = true;
        bool firstInserted = true;
        bool busyAfterFirst = false;
        var results = new List<bool>();
        AtDispatchLevel(() =>
        {
            KeInitializeDeviceQueue(queue);
            firstResult = KeInsertDeviceQueue(queue, first);
            firstInserted = first.Inserted;
            busyAfterFirst = queue.Busy;
            foreach (KDeviceQueueEntry e in entries)
            {
                results.Add(KeInsertDeviceQueue(queue, e));
            }
        });

        Assert.False(firstResult);
        Assert.False(firstInserted);
        Assert.True(busyAfterFirst);
        Assert.All(results, Assert.True);
        Assert.All(entries, e => Assert.True(e.Inserted));
        Assert.Equal(entries, queue.Entries);
    }

    [Fact]
    public void KeRemoveDeviceQueue_UntilEmpty_ReturnsHeadsInOrderThenNullAndNotBusy()
    {
        var queue = new KDeviceQueue();
        var entries = Enumerable.Range(0, InsertCount).Select(_ => new KDeviceQueueEntry()).ToArray();
        var removed = new List<KDeviceQueueEntry?>();
        var remainingCounts = new List<int>();
        bool busyWhileItemsRemain = false;
        AtDispatchLevel(() =>
        {
            KeInitializeDeviceQueue(queue);
            KeInsertDeviceQueue(queue, new KDeviceQueueEntry());
            foreach (KDeviceQueueEntry e in entries)
            {
                KeInsertDeviceQueue(queue, e);
            }

            for (int i = 0; i < InsertCount; i++)
            {
                removed.Add(KeRemoveDeviceQueue(queue));
                remainingCounts.Add(queue.Count);
            }

            busyWhileItemsRemain = queue.Busy;
            removed.Add(KeRemoveDeviceQueue(queue));
        });

        Assert.Equal(entries.Cast<KDeviceQueueEntry?>().Append(null), removed);
        Assert.Equal([4, 3, 2, 1, 0], remainingCounts);
        Assert.All(entries, e => Assert.False(e.Inserted));
        Assert.True(busyWhileItemsRemain);
        Assert.False(queue.Busy);
    }

    [Fact]
    public void KeRemoveEntryDeviceQueue_EveryOtherEntry_RemovesThemOnceAndKeepsTheRestInOrder()
    {
        var queue = new KDeviceQueue();
        var entries = Enumerable.Range(0, InsertCount).Select(_ => new KDeviceQueueEntry()).ToArray();
        var firstPass = new List<bool>();
        var secondPass = new List<bool>();
        AtDispatchLevel(() =>
        {
            KeInitializeDeviceQueue(queue);
            KeInsertDeviceQueue(queue, new KDeviceQueueEntry());
            for (int i = 0; i < InsertCount; i++)
            {
                KeInsertByKeyDeviceQueue(queue, entries[i], (uint)i);
            }

            for (int i = 0; i < InsertCount / 2; i++)
            {
                firstPass.Add(KeRemoveEntryDeviceQueue(queue, entries[(i * 2) + 1]));
            }

            for (int i = 0; i < InsertCount / 2; i++)
            {
                secondPass.Add(KeRemoveEntryDeviceQueue(queue, entries[(i * 2) + 1]));
            }
        });

        Assert.Equal([true, true], firstPass);
        Assert.Equal([false, false], secondPass);
        Assert.Equal([0u, 2u, 4u], Keys(queue));
    }

    [Fact]
    public void KeRemoveEntryDeviceQueue_AtPassiveLevel_IsAllowed()
    {
        using Machine m = KmTest.Machine();
        var queue = new KDeviceQueue();
        var entry = new KDeviceQueueEntry();
        bool removed = false;
        m.RunKernel("cancel", () =>
        {
            KeRaiseIrql(DISPATCH_LEVEL, out byte old);
            KeInsertDeviceQueue(queue, new KDeviceQueueEntry());
            KeInsertDeviceQueue(queue, entry);
            KeLowerIrql(old);

            // The routine cancel paths use: IRQL <= DISPATCH_LEVEL.
            removed = KeRemoveEntryDeviceQueue(queue, entry);
        });

        Assert.True(removed);
        Assert.False(entry.Inserted);
        Assert.Null(m.BugCheck);
    }

    [Fact]
    public void KeInsertByKeyDeviceQueue_MixedKeys_AscendingAndFifoAmongEqualKeys()
    {
        var queue = new KDeviceQueue();
        var first = new KDeviceQueueEntry();
        KDeviceQueueEntry a5 = new("a5"), b1 = new("b1"), c5 = new("c5"), d3 = new("d3"), e5 = new("e5"), f1 = new("f1");
        bool firstResult = true;
        AtDispatchLevel(() =>
        {
            KeInitializeDeviceQueue(queue);
            firstResult = KeInsertByKeyDeviceQueue(queue, first, 0);
            KeInsertByKeyDeviceQueue(queue, a5, 5);
            KeInsertByKeyDeviceQueue(queue, b1, 1);
            KeInsertByKeyDeviceQueue(queue, c5, 5);
            KeInsertByKeyDeviceQueue(queue, d3, 3);
            KeInsertByKeyDeviceQueue(queue, e5, 5);
            KeInsertByKeyDeviceQueue(queue, f1, 1);
        });

        Assert.False(firstResult);
        Assert.Equal(["b1", "f1", "d3", "a5", "c5", "e5"], queue.Entries.Select(e => (string)e.Container!));
    }

    [Fact]
    public void KeRemoveByKeyDeviceQueue_Keys_FirstAtOrAboveTheKeyElseTheHead()
    {
        var queue = new KDeviceQueue();
        var removed = new List<uint?>();
        bool busyAtEnd = true;
        AtDispatchLevel(() =>
        {
            KeInitializeDeviceQueue(queue);
            KeInsertDeviceQueue(queue, new KDeviceQueueEntry());
            foreach (uint key in new uint[] { 10, 20, 30 })
            {
                KeInsertByKeyDeviceQueue(queue, new KDeviceQueueEntry(), key);
            }

            removed.Add(KeRemoveByKeyDeviceQueue(queue, 15)?.SortKey);

            // Nothing at or above 99: the head.
            removed.Add(KeRemoveByKeyDeviceQueue(queue, 99)?.SortKey);
            removed.Add(KeRemoveByKeyDeviceQueue(queue, 0)?.SortKey);
            removed.Add(KeRemoveByKeyDeviceQueue(queue, 0)?.SortKey);
            busyAtEnd = queue.Busy;
        });

        Assert.Equal([20u, 10u, 30u, null], removed);
        Assert.False(busyAtEnd);
    }

    [Fact]
    public void KeRemoveByKeyDeviceQueueIfBusy_IdleQueue_ReturnsNullAndStaysIdle()
    {
        var queue = new KDeviceQueue();
        KDeviceQueueEntry? fromIdle = new();
        KDeviceQueueEntry? fromBusyEmpty = new();
        bool busyAfter = true;
        AtDispatchLevel(() =>
        {
            KeInitializeDeviceQueue(queue);
            fromIdle = KeRemoveByKeyDeviceQueueIfBusy(queue, 0);
            KeInsertDeviceQueue(queue, new KDeviceQueueEntry());
            fromBusyEmpty = KeRemoveByKeyDeviceQueueIfBusy(queue, 0);
            busyAfter = queue.Busy;
        });

        Assert.Null(fromIdle);
        Assert.Null(fromBusyEmpty);
        Assert.False(busyAfter);
    }

    [Fact]
    public void KeInsertDeviceQueue_AtPassiveLevelWithVerifier_BugChecksC4()
    {
        using Machine m = KmTest.Machine(verifier: true);
        BugCheckInfo bc = KmTest.BugCheck(() => m.RunKernel("test", () => KeInsertDeviceQueue(new KDeviceQueue(), new KDeviceQueueEntry())));
        Assert.Equal(BugCheckCatalogue.DRIVER_VERIFIER_DETECTED_VIOLATION, bc.Code);
        Assert.Equal(0xE5UL, bc.Parameter1);
        Assert.Equal((ulong)PASSIVE_LEVEL, bc.Parameter2);
        Assert.Equal((ulong)DISPATCH_LEVEL, bc.Parameter3);
    }

    [Fact]
    public void KeInsertDeviceQueue_AtPassiveLevelWithoutVerifier_Works()
    {
        using Machine m = KmTest.Machine(verifier: false);
        var queue = new KDeviceQueue();
        bool result = true;
        m.RunKernel("test", () => result = KeInsertDeviceQueue(queue, new KDeviceQueueEntry()));
        Assert.False(result);
        Assert.True(queue.Busy);
        Assert.Null(m.BugCheck);
    }

    [Theory]
    [InlineData(true, BugCheckCatalogue.DRIVER_VERIFIER_DETECTED_VIOLATION)]
    [InlineData(false, BugCheckCatalogue.IRQL_NOT_LESS_OR_EQUAL)]
    public void KeRemoveDeviceQueue_AboveDispatchLevel_BugChecks(bool verifier, uint code)
    {
        using Machine m = KmTest.Machine(verifier: verifier);
        BugCheckInfo bc = KmTest.BugCheck(() => m.RunKernel("isr-like", () =>
        {
            KeRaiseIrql(PROFILE_LEVEL, out _);
            KeRemoveDeviceQueue(new KDeviceQueue());
        }));
        Assert.Equal(code, bc.Code);
    }

    [Fact]
    public void DeviceObject_Created_HasAnIdleDeviceQueueAndADpc()
    {
        using Machine m = KmTest.Machine();
        DeviceObject? device = null;
        KmTest.RunAsDriver(m, "QueueDrv", driver =>
            Assert.Equal(STATUS_SUCCESS, IoCreateDevice(driver, null, null, FILE_DEVICE_UNKNOWN, 0, FALSE, out device)));

        Assert.NotNull(device);
        Assert.False(device.DeviceQueue.Busy);
        Assert.Equal(0, device.DeviceQueue.Count);
        Assert.False(device.Dpc.IsQueued);
    }
}
