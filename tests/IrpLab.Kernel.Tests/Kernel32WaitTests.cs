using static IrpLab.Kernel32;

namespace IrpLab.Tests;

/// <summary>Kernel32 events, waits, Sleep, last error and user APCs from an application (nt-io-semantics §11.1–11.3).</summary>
public sealed class Kernel32WaitTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void CreateEvent_ManualReset_StaysSignaledUntilResetEvent(bool deterministic)
    {
        using Machine machine = TestMachine.Create(deterministic);
        machine.Run("app", () =>
        {
            Handle ev = CreateEvent(null, TRUE, FALSE, null);
            Assert.NotEqual(NULL, ev);
            Assert.Equal(WAIT_TIMEOUT, WaitForSingleObject(ev, 0));
            Assert.True(SetEvent(ev));

            // §11.1: manual-reset stays signaled until ResetEvent.
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(ev, 0));
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(ev, INFINITE));
            Assert.True(ResetEvent(ev));
            Assert.Equal(WAIT_TIMEOUT, WaitForSingleObject(ev, 0));
            Assert.True(CloseHandle(ev));
        });
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void CreateEvent_AutoReset_OneWaitConsumesTheSignal(bool deterministic)
    {
        using Machine machine = TestMachine.Create(deterministic);
        machine.Run("app", () =>
        {
            Handle ev = CreateEvent(null, FALSE, TRUE, null);
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(ev, 0));
            Assert.Equal(WAIT_TIMEOUT, WaitForSingleObject(ev, 0));
            SetEvent(ev);
            SetEvent(ev);
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(ev, 0));
            Assert.Equal(WAIT_TIMEOUT, WaitForSingleObject(ev, 0));
            CloseHandle(ev);
        });
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void SetEvent_FromAnotherThread_ReleasesTheWaitingMainThread(bool deterministic)
    {
        using Machine machine = TestMachine.Create(deterministic, seed: 21);
        int exit = machine.Run("app", () =>
        {
            Handle request = CreateEvent(null, FALSE, FALSE, null);
            Handle reply = CreateEvent(null, FALSE, FALSE, null);
            int served = 0;
            Handle worker = CreateThread(null, 0, _ =>
            {
                for (int i = 0; i < 20; i++)
                {
                    Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(request, INFINITE));
                    served++;
                    SetEvent(reply);
                }

                return 7;
            }, null, 0, out uint workerId);
            Assert.NotEqual(0u, workerId);
            for (int i = 0; i < 20; i++)
            {
                SetEvent(request);
                Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(reply, INFINITE));
                Assert.Equal(i + 1, served);
            }

            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(worker, INFINITE));
            CloseHandle(worker);
            return served;
        });

        Assert.Equal(20, exit);
    }

    [Fact]
    public void PulseEvent_ManualReset_ReleasesOnlyCurrentWaiters()
    {
        using Machine machine = TestMachine.Deterministic(seed: 3);
        machine.Run("app", () =>
        {
            Handle ev = CreateEvent(null, TRUE, FALSE, null);
            int released = 0;
            uint Waiter(object? _)
            {
                Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(ev, INFINITE));
                released++;
                return 0;
            }

            Handle a = CreateThread(null, 0, Waiter, null, 0, out _);
            Handle b = CreateThread(null, 0, Waiter, null, 0, out _);
            Sleep(10);
            Assert.True(PulseEvent(ev));
            Assert.Equal(WAIT_OBJECT_0, WaitForMultipleObjects(2, [a, b], TRUE, INFINITE));
            Assert.Equal(2, released);

            // §11.1: the event is non-signaled after the pulse.
            Assert.Equal(WAIT_TIMEOUT, WaitForSingleObject(ev, 0));
        });
    }

    [Fact]
    public void WaitForSingleObject_Timeout_ReturnsWaitTimeoutAfterThatManyVirtualMilliseconds()
    {
        using Machine machine = TestMachine.Deterministic();
        machine.Run("app", () =>
        {
            Handle ev = CreateEvent(null, TRUE, FALSE, null);
            ulong before = GetTickCount64();
            Assert.Equal(WAIT_TIMEOUT, WaitForSingleObject(ev, 1234));
            Assert.Equal(before + 1234, GetTickCount64());
        });
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void WaitForSingleObject_ClosedHandle_FailsWithInvalidHandle(bool deterministic)
    {
        using Machine machine = TestMachine.Create(deterministic);
        machine.Run("app", () =>
        {
            Handle ev = CreateEvent(null, TRUE, TRUE, null);
            Assert.True(CloseHandle(ev));

            // §11.2: errors become WAIT_FAILED with the mapped error.
            Assert.Equal(WAIT_FAILED, WaitForSingleObject(ev, 0));
            Assert.Equal(ERROR_INVALID_HANDLE, GetLastError());
            SetLastError(0);
            Assert.False(CloseHandle(ev));
            Assert.Equal(ERROR_INVALID_HANDLE, GetLastError());
            Assert.False(SetEvent(ev));
            Assert.Equal(ERROR_INVALID_HANDLE, GetLastError());
        });
    }

    [Fact]
    public void WaitForMultipleObjects_WaitAny_ReturnsLowestSignaledIndexAndResetsOnlyThatEvent()
    {
        using Machine machine = TestMachine.Deterministic();
        machine.Run("app", () =>
        {
            Handle a = CreateEvent(null, FALSE, FALSE, null);
            Handle b = CreateEvent(null, FALSE, TRUE, null);
            Handle c = CreateEvent(null, FALSE, TRUE, null);
            Assert.Equal(WAIT_OBJECT_0 + 1, WaitForMultipleObjects(3, [a, b, c], FALSE, INFINITE));
            Assert.Equal(WAIT_TIMEOUT, WaitForSingleObject(b, 0));
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(c, 0));
        });
    }

    [Fact]
    public void WaitForMultipleObjects_WaitAll_AcquiresNothingUntilAllAreSignaled()
    {
        using Machine machine = TestMachine.Deterministic();
        machine.Run("app", () =>
        {
            Handle a = CreateEvent(null, FALSE, TRUE, null);
            Handle b = CreateEvent(null, FALSE, FALSE, null);
            Assert.Equal(WAIT_TIMEOUT, WaitForMultipleObjects(2, [a, b], TRUE, 50));
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(a, 0));
            SetEvent(a);
            SetEvent(b);
            Assert.Equal(WAIT_OBJECT_0, WaitForMultipleObjects(2, [a, b], TRUE, 0));
            Assert.Equal(WAIT_TIMEOUT, WaitForMultipleObjects(2, [a, b], FALSE, 0));
        });
    }

    [Fact]
    public void WaitForMultipleObjects_DuplicateHandle_FailsWithInvalidParameter()
    {
        using Machine machine = TestMachine.Deterministic();
        machine.Run("app", () =>
        {
            Handle ev = CreateEvent(null, TRUE, TRUE, null);

            // §11.2: the same handle twice is not allowed: WAIT_FAILED, ERROR_INVALID_PARAMETER (code UNCONFIRMED).
            Assert.Equal(WAIT_FAILED, WaitForMultipleObjects(2, [ev, ev], FALSE, 0));
            Assert.Equal(ERROR_INVALID_PARAMETER, GetLastError());
        });
    }

    [Fact]
    public void WaitForMultipleObjects_TwoHandlesToOneNamedEvent_FailsWithInvalidParameter()
    {
        using Machine machine = TestMachine.Deterministic();
        machine.Run("app", () =>
        {
            Handle first = CreateEvent(null, TRUE, TRUE, "Same");
            Handle second = CreateEvent(null, TRUE, TRUE, "Same");
            Assert.NotEqual(first, second);
            Assert.Equal(WAIT_FAILED, WaitForMultipleObjects(2, [first, second], TRUE, 0));
            Assert.Equal(ERROR_INVALID_PARAMETER, GetLastError());
        });
    }

    [Fact]
    public void WaitForMultipleObjects_MoreThan64Handles_FailsWithInvalidParameter()
    {
        using Machine machine = TestMachine.Deterministic();
        machine.Run("app", () =>
        {
            var handles = new Handle[65];
            for (int i = 0; i < handles.Length; i++)
            {
                handles[i] = CreateEvent(null, TRUE, TRUE, null);
            }

            Assert.Equal(WAIT_FAILED, WaitForMultipleObjects(65, handles, FALSE, 0));
            Assert.Equal(ERROR_INVALID_PARAMETER, GetLastError());
            Assert.Equal(WAIT_OBJECT_0, WaitForMultipleObjects(64, handles, FALSE, 0));
        });
    }

    [Fact]
    public void CreateEvent_NameInUse_ReturnsTheExistingEventWithAlreadyExists()
    {
        using Machine machine = TestMachine.Deterministic();
        machine.Run("app", () =>
        {
            SetLastError(12345);
            Handle first = CreateEvent(null, TRUE, FALSE, "IrpLabTestEvent");
            Assert.Equal(ERROR_SUCCESS, GetLastError());

            // §11.1: named-object reuse returns the existing object with ERROR_ALREADY_EXISTS (183).
            Handle second = CreateEvent(null, FALSE, TRUE, "IrpLabTestEvent");
            Assert.NotEqual(NULL, second);
            Assert.Equal(ERROR_ALREADY_EXISTS, GetLastError());
            Assert.Equal(183u, GetLastError());

            // The same object: the second call's type and initial state are ignored.
            Assert.Equal(WAIT_TIMEOUT, WaitForSingleObject(second, 0));
            SetEvent(first);
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(second, 0));
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(second, 0));
            CloseHandle(first);
            CloseHandle(second);

            // With every handle closed the name is free again.
            CreateEvent(null, TRUE, FALSE, "IrpLabTestEvent");
            Assert.Equal(ERROR_SUCCESS, GetLastError());
        });
    }

    [Fact]
    public void Sleep_AdvancesVirtualTimeByExactlyTheInterval()
    {
        using Machine machine = TestMachine.Deterministic();
        ulong before = 0, after = 0;
        machine.Run("app", () =>
        {
            before = GetTickCount64();
            Sleep(1500);
            after = GetTickCount64();
        });

        Assert.Equal(1500ul, after - before);
        Assert.Equal(1500 * MachineClock.TicksPerMillisecond, machine.Clock.InterruptTime);
    }

    [Fact]
    public void SetLastError_IsPerThread()
    {
        using Machine machine = TestMachine.Deterministic(seed: 8);
        uint workerSaw = 0, mainAfter = 0;
        machine.Run("app", () =>
        {
            SetLastError(1111);
            Handle worker = CreateThread(null, 0, _ =>
            {
                workerSaw = GetLastError();
                SetLastError(2222);
                Sleep(5);
                return GetLastError();
            }, null, 0, out _);
            Sleep(1);
            Assert.Equal(1111u, GetLastError());
            WaitForSingleObject(worker, INFINITE);
            mainAfter = GetLastError();
        });

        Assert.Equal(0u, workerSaw);
        Assert.Equal(1111u, mainAfter);
    }

    // ------------------------------------------------------------------ user APCs (§11.2, §11.3)

    [Fact]
    public void QueueUserAPC_ThenAlertableSleepEx_RunsTheApcAndReturnsWaitIoCompletion()
    {
        using Machine machine = TestMachine.Deterministic();
        var ran = new List<nuint>();
        uint result = 0;
        ulong elapsed = ulong.MaxValue;
        machine.Run("app", () =>
        {
            Assert.True(QueueUserAPC(d => ran.Add(d), GetCurrentThread(), 1));
            Assert.True(QueueUserAPC(d => ran.Add(d), GetCurrentThread(), 2));
            ulong before = GetTickCount64();
            result = SleepEx(10_000, TRUE);
            elapsed = GetTickCount64() - before;
        });

        // All queued APCs run, in FIFO order, and the sleep ends early.
        Assert.Equal(WAIT_IO_COMPLETION, result);
        Assert.Equal(192u, result);
        Assert.Equal([1u, 2u], ran);
        Assert.Equal(0ul, elapsed);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void QueueUserAPC_ToThreadInAlertableSleep_RunsTheApcOnThatThreadAndEndsTheSleep(bool deterministic)
    {
        using Machine machine = TestMachine.Create(deterministic, seed: 4);
        uint result = 0, workerId = 0, ranOn = 0;
        nuint data = 0;
        ulong wokeAt = 0;
        machine.Run("app", () =>
        {
            Handle worker = CreateThread(null, 0, _ =>
            {
                result = SleepEx(INFINITE, TRUE);
                wokeAt = GetTickCount64();
                return 0;
            }, null, 0, out workerId);
            if (deterministic)
            {
                // Virtual time: when the sleep ends, the worker is in its alertable wait. (Real mode: either order works.)
                Sleep(300);
            }

            Assert.True(QueueUserAPC(d => (ranOn, data) = (GetCurrentThreadId(), d), worker, 5));
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(worker, INFINITE));
            CloseHandle(worker);
        });

        Assert.Equal(WAIT_IO_COMPLETION, result);
        Assert.Equal(workerId, ranOn);
        Assert.Equal((nuint)5, data);
        if (deterministic)
        {
            Assert.Equal(300ul, wokeAt);
        }
    }

    [Fact]
    public void SleepEx_NotAlertable_DoesNotRunQueuedApc_UntilAnAlertableWait()
    {
        using Machine machine = TestMachine.Deterministic();
        int ran = 0;
        uint nonAlertable = 1, drained = 0;
        int ranAfterNonAlertable = -1;
        machine.Run("app", () =>
        {
            QueueUserAPC(_ => ran++, GetCurrentThread(), 0);
            nonAlertable = SleepEx(20, FALSE);
            ranAfterNonAlertable = ran;

            // §11.2: "SleepEx(0, TRUE) is the usual drain my APCs call".
            drained = SleepEx(0, TRUE);
        });

        Assert.Equal(0u, nonAlertable);
        Assert.Equal(0, ranAfterNonAlertable);
        Assert.Equal(WAIT_IO_COMPLETION, drained);
        Assert.Equal(1, ran);
    }

    [Fact]
    public void WaitForSingleObjectEx_AlertableWithSignaledObjectAndQueuedApc_ObjectWinsAndTheApcStaysQueued()
    {
        using Machine machine = TestMachine.Deterministic();
        int ran = 0;
        machine.Run("app", () =>
        {
            Handle ev = CreateEvent(null, TRUE, TRUE, null);
            QueueUserAPC(_ => ran++, GetCurrentThread(), 0);

            // §10.4: when both exist the object wins (ReactOS order; Windows UNCONFIRMED).
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObjectEx(ev, INFINITE, TRUE));
            Assert.Equal(0, ran);
            ResetEvent(ev);
            Assert.Equal(WAIT_IO_COMPLETION, WaitForSingleObjectEx(ev, 0, TRUE));
            Assert.Equal(1, ran);
        });
    }

    // ------------------------------------------------------------------ infinite sleeps, process exit

    [Fact]
    public void Sleep_Infinite_NeverReturnsAndTheProcessExitEndsTheThread()
    {
        using Machine machine = TestMachine.Deterministic(seed: 2);
        bool sleeperWoke = false;
        int exit = machine.Run("app", () =>
        {
            Handle sleeper = CreateThread(null, 0, _ =>
            {
                Sleep(INFINITE);
                sleeperWoke = true;
                return 0;
            }, null, 0, out _);
            Sleep(5000);
            Assert.Equal(WAIT_TIMEOUT, WaitForSingleObject(sleeper, 1000));
            return 3;
        });

        Assert.Equal(3, exit);
        Assert.False(sleeperWoke);
        Assert.Equal(6000 * MachineClock.TicksPerMillisecond, machine.Clock.InterruptTime);
    }

    [Fact]
    public void SleepEx_InfiniteWithNothingElseToRun_IsReportedAsDeadlock()
    {
        using Machine machine = TestMachine.Deterministic();
        DeadlockException ex = Assert.Throws<DeadlockException>(() => machine.Run("app", () =>
        {
            SleepEx(INFINITE, TRUE);
            return 0;
        }));

        Assert.Contains("\"app\" (app): waits on nothing (a delay)", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0L, machine.Clock.InterruptTime);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ProcessExit_OtherThreadsBlockedInWaits_AreTerminated(bool deterministic)
    {
        using Machine machine = TestMachine.Create(deterministic, seed: 12);
        bool resumed = false;
        int exit = machine.Run("app", () =>
        {
            Handle never = CreateEvent(null, TRUE, FALSE, null);
            Handle started = CreateEvent(null, TRUE, FALSE, null);
            CreateThread(null, 0, _ =>
            {
                SetEvent(started);
                WaitForSingleObject(never, INFINITE);
                resumed = true;
                return 0;
            }, null, 0, out _);
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(started, INFINITE));
            return 42;
        });

        Assert.Equal(42, exit);
        Assert.False(resumed);
    }

    [Fact]
    public void QueueUserAPC_ToAThreadThatHasExited_FailsWithGenFailure()
    {
        using Machine machine = TestMachine.Deterministic();
        machine.Run("app", () =>
        {
            Handle worker = CreateThread(null, 0, _ => 0, null, 0, out _);
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(worker, INFINITE));

            // §11.3: a terminating thread cannot take an APC (ERROR_GEN_FAILURE).
            Assert.False(QueueUserAPC(_ => { }, worker, 0));
            Assert.Equal(ERROR_GEN_FAILURE, GetLastError());
        });
    }

    [Fact]
    public void Run_UnhandledExceptionInAnApplicationThread_EndsTheProcessAndIsRethrown()
    {
        using Machine machine = TestMachine.Deterministic();
        InvalidOperationException ex = Assert.Throws<InvalidOperationException>(() => machine.Run("app", () =>
        {
            Handle never = CreateEvent(null, TRUE, FALSE, null);
            CreateThread(null, 0, _ => throw new InvalidOperationException("worker failed"), null, 0, out _);
            WaitForSingleObject(never, INFINITE);
            return 0;
        }));

        Assert.Equal("worker failed", ex.Message);
        Assert.Equal(MachineStopReason.None, machine.StopReason);

        // The machine goes on.
        Assert.Equal(5, machine.Run("next", () => 5));
    }

    [Fact]
    public void CreateEvent_GlobalAndLocalPrefixes_NameObjectsInTheSessionNamespace()
    {
        using Machine machine = TestMachine.Deterministic();
        machine.Run("app", () =>
        {
            // Kernel object namespaces: "Global\" and "Local\" prefixes are part of the Win32 naming rules.
            Handle global = CreateEvent(null, TRUE, FALSE, "Global\\IrpLabShared");
            Assert.NotEqual(NULL, global);
            Assert.Equal(ERROR_SUCCESS, GetLastError());
            Handle again = CreateEvent(null, TRUE, FALSE, "Global\\IrpLabShared");
            Assert.Equal(ERROR_ALREADY_EXISTS, GetLastError());
            SetEvent(global);
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(again, 0));

            // An unprefixed name is a Local name.
            Handle local = CreateEvent(null, TRUE, FALSE, "Local\\IrpLabMine");
            Assert.NotEqual(NULL, local);
            Handle plain = CreateEvent(null, TRUE, FALSE, "IrpLabMine");
            Assert.Equal(ERROR_ALREADY_EXISTS, GetLastError());
            SetEvent(local);
            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(plain, 0));
        });
    }
}
