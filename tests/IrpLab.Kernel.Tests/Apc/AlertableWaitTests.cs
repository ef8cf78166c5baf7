using static IrpLab.Kernel32;
using static IrpLab.Tests.Cancel.LabHost;

namespace IrpLab.Tests.Apc;

/// <summary>User APCs and alertable waits (nt-io-semantics §11.2, §11.3).</summary>
public sealed class AlertableWaitTests
{
    private static Machine NewMachine() => new(new MachineOptions { Deterministic = true, Seed = 3 });

    /// <summary>SleepEx(0, TRUE) is how a thread drains its APCs: all of them run, in FIFO order, and it returns WAIT_IO_COMPLETION.</summary>
    [Fact]
    public void SleepEx_ZeroAlertableWithQueuedApcs_RunsAllFifoAndReturnsWaitIoCompletion()
    {
        using Machine machine = NewMachine();
        machine.Run("app", () =>
        {
            var ran = new List<nuint>();
            for (nuint i = 1; i <= 3; i++)
            {
                Assert.True(QueueUserAPC(d => ran.Add(d), GetCurrentThread(), i));
            }

            Assert.Equal(0u, SleepEx(0, FALSE));
            Assert.Empty(ran);
            Assert.Equal(WAIT_IO_COMPLETION, SleepEx(0, TRUE));
            Assert.Equal([(nuint)1, 2, 3], ran);
            Assert.Equal(0u, SleepEx(0, TRUE));
        });
    }

    /// <summary>An object already signaled satisfies an alertable wait before queued APCs are looked at; they wait for the next one.</summary>
    [Fact]
    public void WaitForSingleObjectEx_SignaledObjectAndQueuedApc_ObjectWinsApcStaysQueued()
    {
        using Machine machine = NewMachine();
        machine.Run("app", () =>
        {
            Handle ev = CreateEvent(null, TRUE, TRUE, null);
            int ran = 0;
            Assert.True(QueueUserAPC(_ => ran++, GetCurrentThread(), 0));
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObjectEx(ev, INFINITE, TRUE));
            Assert.Equal(0, ran);
            Assert.True(ResetEvent(ev));
            Assert.Equal(WAIT_IO_COMPLETION, WaitForSingleObjectEx(ev, 0, TRUE));
            Assert.Equal(1, ran);
            CloseHandle(ev);
        });
    }

    /// <summary>An APC queued from another thread runs on the target, and only once the target waits alertably.</summary>
    [Fact]
    public void QueueUserAPC_FromAnotherThread_RunsOnTargetInItsAlertableWaitOnly()
    {
        using Machine machine = NewMachine();
        machine.Run("app", () =>
        {
            var ranOn = new List<uint>();
            uint workerId = 0;
            int ranBeforeAlertable = -1;
            uint alertableResult = 0;
            uint wokeAt = 0;
            Handle worker = StartThread(() =>
            {
                workerId = GetCurrentThreadId();
                Sleep(500); // not alertable: the APC queued at 100 ms waits
                ranBeforeAlertable = ranOn.Count;
                alertableResult = SleepEx(10_000, TRUE);
                wokeAt = GetTickCount();
            });
            Sleep(100);
            Assert.True(QueueUserAPC(_ => ranOn.Add(GetCurrentThreadId()), worker, 0));
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(worker, INFINITE));
            Assert.Equal(0, ranBeforeAlertable);
            Assert.Equal(WAIT_IO_COMPLETION, alertableResult);
            Assert.Equal(500u, wokeAt);
            Assert.Equal([workerId], ranOn);

            // The thread has exited: QueueUserAPC fails.
            Assert.False(QueueUserAPC(_ => ranOn.Add(0), worker, 0));
            CloseHandle(worker);
        });
    }

    /// <summary>SleepEx(INFINITE) never wakes by itself: with nothing else left to run, that is a deadlock, not a jump to the end of time.</summary>
    [Fact]
    public void SleepEx_InfiniteWithNothingToWakeIt_DeadlockReported()
    {
        using Machine machine = NewMachine();
        Assert.Throws<DeadlockException>(() => machine.Run("app", () => SleepEx(INFINITE, TRUE)));
    }
}
