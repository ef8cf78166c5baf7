using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Tests;

/// <summary>KeWaitForSingleObject / KeWaitForMultipleObjects / KeDelayExecutionThread (nt-io-semantics §10.4, §10.5).</summary>
public sealed class KeWaitTests
{
    // ------------------------------------------------------------------ WaitAny / WaitAll

    [Fact]
    public void KeWaitForMultipleObjects_WaitAny_ReturnsLowestSignaledIndexAndConsumesOnlyThatObject()
    {
        using Machine machine = TestMachine.Deterministic();
        NtStatus status = STATUS_PENDING;
        int e0 = -1, e1 = -1, e2 = -1, sem = -1;
        machine.Kernel(() =>
        {
            KEvent notSignaled = K.Event(SynchronizationEvent);
            KEvent first = K.Event(SynchronizationEvent, state: TRUE);
            KEvent second = K.Event(SynchronizationEvent, state: TRUE);
            KSemaphore semaphore = K.Semaphore(1, 1);
            status = KeWaitForMultipleObjects(4, [notSignaled, first, second, semaphore], WaitAny, Executive, KernelMode, FALSE, null, null);
            (e0, e1, e2, sem) = (KeReadStateEvent(notSignaled), KeReadStateEvent(first), KeReadStateEvent(second), KeReadStateSemaphore(semaphore));
        });

        // §10.4: the lowest signaled index wins and only that object's side effect is applied.
        Assert.Equal(STATUS_WAIT_1, status);
        Assert.Equal((0, 0, 1, 1), (e0, e1, e2, sem));
    }

    [Fact]
    public void KeWaitForMultipleObjects_WaitAnyBlocked_ReturnsIndexOfTheObjectSignaledLater()
    {
        using Machine machine = TestMachine.Deterministic();
        NtStatus status = STATUS_PENDING;
        int semaphoreCount = -1;
        machine.Kernel(() =>
        {
            KEvent a = K.Event(SynchronizationEvent);
            KEvent b = K.Event(SynchronizationEvent);
            KSemaphore s = K.Semaphore(0, 5);
            KThread waiter = K.StartThread(() => status = KeWaitForMultipleObjects(3, [a, b, s], WaitAny, Executive, KernelMode, FALSE, null, null));
            K.LetOthersRun();
            KeReleaseSemaphore(s, 0, 2, FALSE);
            K.Join(waiter);
            semaphoreCount = KeReadStateSemaphore(s);
        });

        Assert.Equal(STATUS_WAIT_2, status);
        Assert.Equal(1, semaphoreCount);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void KeWaitForMultipleObjects_WaitAll_ConsumesNothingUntilEveryObjectIsSignaled(bool deterministic)
    {
        using Machine machine = TestMachine.Create(deterministic, seed: 3);
        NtStatus status = STATUS_PENDING;
        (int Event, int Semaphore) whileHalfSignaled = (-1, -1), afterBoth = (-1, -1);
        machine.Kernel(() =>
        {
            KEvent ev = K.Event(SynchronizationEvent);
            KSemaphore s = K.Semaphore(0, 1);
            KEvent done = K.Event(NotificationEvent);
            KThread waiter = K.StartThread(() =>
            {
                status = KeWaitForMultipleObjects(2, [ev, s], WaitAll, Executive, KernelMode, FALSE, null, null);
                KeSetEvent(done, 0, FALSE);
            });

            KeSetEvent(ev, 0, FALSE);
            if (machine.IsDeterministic)
            {
                K.LetOthersRun();
            }

            // §10.4: WaitAll is all-or-nothing; the waiter may not take the event while the semaphore is at 0.
            whileHalfSignaled = (KeReadStateEvent(ev), KeReadStateSemaphore(s));
            Assert.Equal(STATUS_TIMEOUT, K.Poll(done));

            KeReleaseSemaphore(s, 0, 1, FALSE);
            Assert.Equal(STATUS_SUCCESS, K.WaitForever(done));
            afterBoth = (KeReadStateEvent(ev), KeReadStateSemaphore(s));
            K.Join(waiter);
        });

        Assert.Equal((1, 0), whileHalfSignaled);
        Assert.Equal(STATUS_SUCCESS, status);
        Assert.Equal((0, 0), afterBoth);
    }

    [Fact]
    public void KeWaitForMultipleObjects_WaitAllAlreadySignaled_AppliesEverySideEffect()
    {
        using Machine machine = TestMachine.Deterministic();
        machine.Kernel(() =>
        {
            KEvent sync = K.Event(SynchronizationEvent, state: TRUE);
            KEvent notification = K.Event(NotificationEvent, state: TRUE);
            KSemaphore s = K.Semaphore(2, 2);
            NtStatus status = KeWaitForMultipleObjects(3, [sync, notification, s], WaitAll, Executive, KernelMode, FALSE, 0, null);
            Assert.Equal(STATUS_SUCCESS, status);
            Assert.Equal(0, KeReadStateEvent(sync));
            Assert.Equal(1, KeReadStateEvent(notification));
            Assert.Equal(1, KeReadStateSemaphore(s));
        });
    }

    [Fact]
    public void KeWaitForMultipleObjects_WaitAllPollHalfSignaled_TimesOutAndConsumesNothing()
    {
        using Machine machine = TestMachine.Deterministic();
        machine.Kernel(() =>
        {
            KEvent ev = K.Event(SynchronizationEvent, state: TRUE);
            KSemaphore s = K.Semaphore(0, 1);
            Assert.Equal(STATUS_TIMEOUT, KeWaitForMultipleObjects(2, [ev, s], WaitAll, Executive, KernelMode, FALSE, 0, null));
            Assert.Equal(1, KeReadStateEvent(ev));
        });
    }

    [Fact]
    public void KeWaitForMultipleObjects_ArrayOfThreads_WaitsForEveryThread()
    {
        // Drivers keep their thread objects in a typed array (PKTHREAD[] in C); passing it must work.
        using Machine machine = TestMachine.Deterministic();
        int finished = 0;
        NtStatus status = STATUS_PENDING;
        machine.Kernel(() =>
        {
            KThread[] threads = [K.StartThread(() => finished++), K.StartThread(() => finished++)];
            status = KeWaitForMultipleObjects(threads.Length, threads, WaitAll, Executive, KernelMode, FALSE, null, null);
            foreach (KThread t in threads)
            {
                ObDereferenceObject(t);
            }
        });

        Assert.Equal(STATUS_SUCCESS, status);
        Assert.Equal(2, finished);
    }

    [Fact]
    public void KeWaitForMultipleObjects_MoreThan64Objects_BugChecksMaximumWaitObjectsExceeded()
    {
        using Machine machine = TestMachine.Deterministic();
        BugCheckInfo bugCheck = machine.ExpectBugCheck(() =>
        {
            var objects = new DispatcherObject[65];
            for (int i = 0; i < objects.Length; i++)
            {
                objects[i] = K.Event(NotificationEvent, state: TRUE);
            }

            KeWaitForMultipleObjects(objects.Length, objects, WaitAny, Executive, KernelMode, FALSE, null, null);
        });

        // §10.4: Count > MAXIMUM_WAIT_OBJECTS (64) ⇒ MAXIMUM_WAIT_OBJECTS_EXCEEDED (0xC).
        Assert.Equal(0xCu, bugCheck.Code);
        Assert.Equal("MAXIMUM_WAIT_OBJECTS_EXCEEDED", bugCheck.Name);
        Assert.Equal(65ul, bugCheck.Parameter1);
    }

    [Fact]
    public void KeWaitForMultipleObjects_Exactly64Objects_IsAllowed()
    {
        using Machine machine = TestMachine.Deterministic();
        NtStatus status = STATUS_PENDING;
        machine.Kernel(() =>
        {
            var objects = new DispatcherObject[64];
            for (int i = 0; i < objects.Length; i++)
            {
                objects[i] = K.Event(NotificationEvent, state: i == 63);
            }

            status = KeWaitForMultipleObjects(objects.Length, objects, WaitAny, Executive, KernelMode, FALSE, null, null);
        });

        Assert.Equal((NtStatus)63, status);
    }

    // ------------------------------------------------------------------ timeouts in virtual time

    [Fact]
    public void KeWaitForSingleObject_RelativeTimeout_TimesOutExactlyAtTheDueTime()
    {
        using Machine machine = TestMachine.Deterministic();
        NtStatus status = STATUS_PENDING;
        ulong before = 0, after = 0;
        machine.Kernel(() =>
        {
            KEvent ev = K.Event(NotificationEvent);
            before = KeQueryInterruptTime();
            status = KeWaitForSingleObject(ev, Executive, KernelMode, FALSE, RELATIVE(SECONDS(3)));
            after = KeQueryInterruptTime();
        });

        // §10.4: negative = relative interval in 100 ns units.
        Assert.Equal(STATUS_TIMEOUT, status);
        Assert.Equal(30_000_000ul, after - before);
    }

    [Fact]
    public void KeWaitForSingleObject_AbsoluteTimeout_TimesOutExactlyAtThatSystemTime()
    {
        using Machine machine = TestMachine.Deterministic();
        NtStatus status = STATUS_PENDING;
        long due = 0, after = 0;
        machine.Kernel(() =>
        {
            KEvent ev = K.Event(NotificationEvent);
            K.LetOthersRun();
            KeQuerySystemTime(out LargeInteger now);
            due = now.QuadPart + MILLISECONDS(1500);

            // §10.4: positive = absolute system time (100 ns since 1601).
            status = KeWaitForSingleObject(ev, Executive, KernelMode, FALSE, ABSOLUTE(due));
            KeQuerySystemTime(out LargeInteger then);
            after = then.QuadPart;
        });

        Assert.Equal(STATUS_TIMEOUT, status);
        Assert.Equal(due, after);
        Assert.Equal(due, machine.Clock.SystemTime);
    }

    [Fact]
    public void KeWaitForSingleObject_AbsoluteTimeInThePast_TimesOutAtOnce()
    {
        using Machine machine = TestMachine.Deterministic();
        machine.Kernel(() =>
        {
            KEvent ev = K.Event(NotificationEvent);
            KeDelayExecutionThread(KernelMode, FALSE, RELATIVE(SECONDS(1)));
            KeQuerySystemTime(out LargeInteger now);
            ulong before = KeQueryInterruptTime();
            Assert.Equal(STATUS_TIMEOUT, KeWaitForSingleObject(ev, Executive, KernelMode, FALSE, now.QuadPart - 1));
            Assert.Equal(before, KeQueryInterruptTime());
        });
    }

    [Fact]
    public void KeWaitForSingleObject_ZeroTimeout_PollsWithoutWaitingOrMovingTheClock()
    {
        using Machine machine = TestMachine.Deterministic();
        machine.Kernel(() =>
        {
            KEvent ev = K.Event(NotificationEvent);
            ulong before = KeQueryInterruptTime();

            // §10.4: *Timeout == 0 = poll.
            Assert.Equal(STATUS_TIMEOUT, KeWaitForSingleObject(ev, Executive, KernelMode, FALSE, 0));
            Assert.Equal(before, KeQueryInterruptTime());
            KeSetEvent(ev, 0, FALSE);
            Assert.Equal(STATUS_SUCCESS, KeWaitForSingleObject(ev, Executive, KernelMode, FALSE, 0));
        });
    }

    [Fact]
    public void KeWaitForSingleObject_NullTimeout_WaitsForeverUntilSignaled()
    {
        using Machine machine = TestMachine.Deterministic();
        NtStatus status = STATUS_PENDING;
        ulong woke = 0;
        machine.Kernel(() =>
        {
            KEvent ev = K.Event(NotificationEvent);
            KThread setter = K.StartThread(() =>
            {
                KeDelayExecutionThread(KernelMode, FALSE, RELATIVE(SECONDS(3600)));
                KeSetEvent(ev, 0, FALSE);
            });

            // §10.4: NULL = infinite.
            status = KeWaitForSingleObject(ev, Executive, KernelMode, FALSE, null);
            woke = KeQueryInterruptTime();
            K.Join(setter);
        });

        Assert.Equal(STATUS_SUCCESS, status);
        Assert.Equal(3600ul * 10_000_000, woke);
    }

    [Fact]
    public void KeWaitForSingleObject_SignaledBeforeTimeout_ReturnsSuccessAndTheClockDoesNotJump()
    {
        using Machine machine = TestMachine.Deterministic();
        NtStatus status = STATUS_PENDING;
        ulong woke = 0, later = 0;
        machine.Kernel(() =>
        {
            KEvent ev = K.Event(SynchronizationEvent);
            KThread setter = K.StartThread(() =>
            {
                KeDelayExecutionThread(KernelMode, FALSE, RELATIVE(SECONDS(1)));
                KeSetEvent(ev, 0, FALSE);
            });
            status = KeWaitForSingleObject(ev, Executive, KernelMode, FALSE, RELATIVE(SECONDS(10)));
            woke = KeQueryInterruptTime();
            K.Join(setter);

            // The cancelled 10 s timeout must not fire later: the next timer is this 1 ms delay.
            KeDelayExecutionThread(KernelMode, FALSE, RELATIVE(MILLISECONDS(1)));
            later = KeQueryInterruptTime();
        });

        Assert.Equal(STATUS_SUCCESS, status);
        Assert.Equal(10_000_000ul, woke);
        Assert.Equal(10_010_000ul, later);
        Assert.Equal(10_010_000L, machine.Clock.InterruptTime);
    }

    [Fact]
    public void KeWaitForMultipleObjects_WaitAnyTimeout_ReturnsStatusTimeout()
    {
        using Machine machine = TestMachine.Deterministic();
        machine.Kernel(() =>
        {
            KEvent a = K.Event(NotificationEvent);
            KSemaphore s = K.Semaphore(0, 1);
            ulong before = KeQueryInterruptTime();
            Assert.Equal(STATUS_TIMEOUT, KeWaitForMultipleObjects(2, [a, s], WaitAny, Executive, KernelMode, FALSE, RELATIVE(MILLISECONDS(20)), null));
            Assert.Equal(before + 200_000, KeQueryInterruptTime());
        });
    }

    [Fact]
    public void KeDelayExecutionThread_RelativeInterval_ReturnsSuccessAfterExactlyTheInterval()
    {
        using Machine machine = TestMachine.Deterministic();
        machine.Kernel(() =>
        {
            ulong before = KeQueryInterruptTime();

            // §10.5: STATUS_SUCCESS when the delay elapsed.
            Assert.Equal(STATUS_SUCCESS, KeDelayExecutionThread(KernelMode, FALSE, RELATIVE(MILLISECONDS(250))));
            Assert.Equal(before + 2_500_000, KeQueryInterruptTime());
        });
    }

    [Fact]
    public void KeDelayExecutionThread_AbsoluteInterval_ReturnsAtThatSystemTime()
    {
        using Machine machine = TestMachine.Deterministic();
        long due = 0, after = 0;
        machine.Kernel(() =>
        {
            KeQuerySystemTime(out LargeInteger now);
            due = now.QuadPart + SECONDS(2);
            Assert.Equal(STATUS_SUCCESS, KeDelayExecutionThread(KernelMode, FALSE, ABSOLUTE(due)));
            KeQuerySystemTime(out LargeInteger then);
            after = then.QuadPart;
        });

        Assert.Equal(due, after);
    }

    [Fact]
    public void KeWaitForSingleObject_RealMode_ShortTimeoutExpires()
    {
        using Machine machine = TestMachine.Create(deterministic: false);
        NtStatus status = STATUS_PENDING;
        ulong before = 0, after = 0;
        machine.Kernel(() =>
        {
            KEvent ev = K.Event(NotificationEvent);
            before = KeQueryInterruptTime();
            status = KeWaitForSingleObject(ev, Executive, KernelMode, FALSE, RELATIVE(MILLISECONDS(2)));
            after = KeQueryInterruptTime();
        });

        Assert.Equal(STATUS_TIMEOUT, status);
        Assert.True(after - before >= 20_000, $"woke after {after - before} (100 ns units)");
    }

    [Fact]
    public void KeWaitForSingleObject_HugeRelativeTimeout_DoesNotTimeOutAtOnce()
    {
        using Machine machine = TestMachine.Deterministic();
        NtStatus status = STATUS_PENDING;
        ulong woke = 0;
        machine.Kernel(() =>
        {
            KEvent ev = K.Event(NotificationEvent);
            KeDelayExecutionThread(KernelMode, FALSE, RELATIVE(SECONDS(1)));
            KThread setter = K.StartThread(() =>
            {
                KeDelayExecutionThread(KernelMode, FALSE, RELATIVE(SECONDS(1)));
                KeSetEvent(ev, 0, FALSE);
            });

            // About 29,000 years: far beyond the clock's range, so in effect infinite.
            status = KeWaitForSingleObject(ev, Executive, KernelMode, FALSE, -long.MaxValue);
            woke = KeQueryInterruptTime();
            K.Join(setter);
        });

        Assert.Equal(STATUS_SUCCESS, status);
        Assert.Equal(20_000_000ul, woke);
    }
}
