using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Tests;

/// <summary>Deadlock reports of the deterministic mode (docs/determinism.md, "Deadlocks and hangs").</summary>
public sealed class DeadlockTests
{
    private sealed class Pair
    {
        public KEvent A = new();
        public KEvent B = new();
    }

    private static void ThreadA(Pair p)
    {
        KeWaitForSingleObject(p.B, Executive, KernelMode, FALSE, null);
        KeSetEvent(p.A, 0, FALSE);
    }

    private static void ThreadB(Pair p)
    {
        KeWaitForSingleObject(p.A, Executive, KernelMode, FALSE, null);
        KeSetEvent(p.B, 0, FALSE);
    }

    private static void WaitsForever(KEvent ev) => KeWaitForSingleObject(ev, Executive, KernelMode, FALSE, null);

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    public void KeWaitForSingleObject_TwoThreadsWaitingForEachOther_ThrowsDeadlockNamingThreadsAndObjects(ulong seed)
    {
        using Machine machine = TestMachine.Deterministic(seed);
        var pair = new Pair();
        KThread? a = null, b = null;
        DeadlockException ex = Assert.Throws<DeadlockException>(() => machine.RunKernel("main", () =>
        {
            KeInitializeEvent(pair.A, SynchronizationEvent, FALSE);
            KeInitializeEvent(pair.B, SynchronizationEvent, FALSE);
            PsCreateSystemThread(out Handle ha, THREAD_ALL_ACCESS, null, null, null, ThreadA, pair);
            PsCreateSystemThread(out Handle hb, THREAD_ALL_ACCESS, null, null, null, ThreadB, pair);
            ObReferenceObjectByHandle(ha, SYNCHRONIZE, PsThreadType, KernelMode, out a, null);
            ObReferenceObjectByHandle(hb, SYNCHRONIZE, PsThreadType, KernelMode, out b, null);
            ZwClose(ha);
            ZwClose(hb);
            KeWaitForMultipleObjects(2, [a!, b!], WaitAll, Executive, KernelMode, FALSE, null, null);
        }));

        KThread ta = a!, tb = b!;
        Assert.Equal(MachineStopReason.Deadlock, machine.StopReason);
        Assert.Equal(ex.Message, machine.StopReport);
        string[] lines = ex.Message.Split(Environment.NewLine);
        Assert.StartsWith("Deadlock: every thread waits and no timer is armed.", lines[0], StringComparison.Ordinal);

        string eventA = "Event " + pair.A.DebugAddress(machine).ToString("X");
        string eventB = "Event " + pair.B.DebugAddress(machine).ToString("X");
        Assert.Contains(lines, l => l.Contains($"thread {ta.Id} \"ThreadA\" (System): waits on {eventB}", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains($"thread {tb.Id} \"ThreadB\" (System): waits on {eventA}", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("\"main\"", StringComparison.Ordinal)
            && l.Contains($"(thread {ta.Id} \"ThreadA\" to exit) and ", StringComparison.Ordinal)
            && l.Contains($"(thread {tb.Id} \"ThreadB\" to exit)", StringComparison.Ordinal));

        // Every thread was unwound.
        Assert.True(ta.HostExited.Wait(TimeSpan.FromSeconds(10)));
        Assert.True(tb.HostExited.Wait(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void KeWaitForSingleObject_OnThreadThatWaitsForever_ThrowsDeadlockNamingTheThreadToExit()
    {
        using Machine machine = TestMachine.Deterministic();
        var ev = new KEvent();
        KThread? worker = null;
        DeadlockException ex = Assert.Throws<DeadlockException>(() => machine.RunKernel("unloader", () =>
        {
            KeInitializeEvent(ev, NotificationEvent, FALSE);
            PsCreateSystemThread(out Handle h, THREAD_ALL_ACCESS, null, null, null, WaitsForever, ev);
            ObReferenceObjectByHandle(h, SYNCHRONIZE, PsThreadType, KernelMode, out worker, null);
            ZwClose(h);
            KeWaitForSingleObject(worker!, Executive, KernelMode, FALSE, null);
        }));

        string thread = "Thread " + worker!.DebugAddress(machine).ToString("X");
        string evName = "Event " + ev.DebugAddress(machine).ToString("X");
        Assert.Contains($"\"unloader\" (System): waits on {thread} (thread {worker.Id} \"WaitsForever\" to exit)", ex.Message, StringComparison.Ordinal);
        Assert.Contains($"thread {worker.Id} \"WaitsForever\" (System): waits on {evName}", ex.Message, StringComparison.Ordinal);

        // The machine stays stopped.
        Assert.Throws<DeadlockException>(() => machine.RunKernel("again", () => { }));
    }

    [Fact]
    public void KeWaitForSingleObject_WaitWithTimeout_IsNotADeadlock()
    {
        using Machine machine = TestMachine.Deterministic();
        NtStatus status = STATUS_PENDING;
        machine.Kernel(() => status = KeWaitForSingleObject(K.Event(NotificationEvent), Executive, KernelMode, FALSE, RELATIVE(SECONDS(60))));
        Assert.Equal(STATUS_TIMEOUT, status);
        Assert.Equal(MachineStopReason.None, machine.StopReason);
    }

    [Fact]
    public void MaxSteps_ThreadsThatNeverFinish_ThrowStepBoundExceeded()
    {
        using var machine = new Machine(new MachineOptions { Deterministic = true, Seed = 1, MaxSteps = 500 });
        Assert.Throws<StepBoundExceededException>(() => machine.RunKernel("spinner", () =>
        {
            KEvent ev = K.Event(NotificationEvent);
            KThread other = K.StartThread(() =>
            {
                while (true)
                {
                    KeSetEvent(ev, 0, FALSE);
                }
            });
            while (true)
            {
                K.Poll(ev);
            }
        }));
        Assert.Equal(MachineStopReason.StepBound, machine.StopReason);
    }
}
