using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Tests;

/// <summary>KEVENT semantics (nt-io-semantics §10.3).</summary>
public sealed class KeEventTests
{
    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    public void KeSetEvent_NotificationEvent_ReleasesEveryWaiterAndStaysSignaled(ulong seed)
    {
        using Machine machine = TestMachine.Deterministic(seed);
        int released = 0, releasedBeforeSet = -1, previous = -1, stateAfter = -1;
        NtStatus[] statuses = new NtStatus[3];
        machine.Kernel(() =>
        {
            KEvent ev = K.Event(NotificationEvent);
            KThread[] waiters = new KThread[3];
            for (int i = 0; i < waiters.Length; i++)
            {
                int index = i;
                waiters[i] = K.StartThread(() =>
                {
                    statuses[index] = K.WaitForever(ev);
                    released++;
                });
            }

            K.LetOthersRun();
            releasedBeforeSet = released;
            previous = KeSetEvent(ev, 0, FALSE);
            K.Join(waiters);
            stateAfter = KeReadStateEvent(ev);
        });

        Assert.Equal(0, releasedBeforeSet);
        Assert.Equal(0, previous);
        Assert.Equal(3, released);
        Assert.All(statuses, s => Assert.Equal(STATUS_SUCCESS, s));

        // §10.3: a notification event stays signaled until it is cleared.
        Assert.Equal(1, stateAfter);
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    public void KeSetEvent_SynchronizationEvent_ReleasesExactlyOneWaiterAndResets(ulong seed)
    {
        using Machine machine = TestMachine.Deterministic(seed);
        int released = 0;
        var afterFirstSet = (Released: -1, State: -1);
        var afterSecondSet = (Released: -1, State: -1);
        machine.Kernel(() =>
        {
            KEvent ev = K.Event(SynchronizationEvent);
            KThread a = K.StartThread(() => { K.WaitForever(ev); released++; });
            KThread b = K.StartThread(() => { K.WaitForever(ev); released++; });
            K.LetOthersRun();

            KeSetEvent(ev, 0, FALSE);
            K.LetOthersRun();
            afterFirstSet = (released, KeReadStateEvent(ev));

            KeSetEvent(ev, 0, FALSE);
            K.LetOthersRun();
            afterSecondSet = (released, KeReadStateEvent(ev));
            K.Join(a, b);
        });

        // §10.3: a synchronization event releases one waiter and is reset by that wait.
        Assert.Equal((1, 0), afterFirstSet);
        Assert.Equal((2, 0), afterSecondSet);
    }

    [Fact]
    public void KeSetEvent_SynchronizationEventWithoutWaiter_StaysSignaledUntilOneWaitConsumesIt()
    {
        using Machine machine = TestMachine.Deterministic();
        machine.Kernel(() =>
        {
            KEvent ev = K.Event(SynchronizationEvent);
            Assert.Equal(0, KeSetEvent(ev, 0, FALSE));
            Assert.Equal(1, KeReadStateEvent(ev));
            Assert.Equal(1, KeSetEvent(ev, 0, FALSE));
            Assert.Equal(1, KeReadStateEvent(ev));

            Assert.Equal(STATUS_SUCCESS, K.Poll(ev));
            Assert.Equal(0, KeReadStateEvent(ev));
            Assert.Equal(STATUS_TIMEOUT, K.Poll(ev));
        });
    }

    [Fact]
    public void KeSetEvent_NotificationEvent_EveryLaterWaitIsSatisfied()
    {
        using Machine machine = TestMachine.Deterministic();
        machine.Kernel(() =>
        {
            KEvent ev = K.Event(NotificationEvent);
            KeSetEvent(ev, 0, FALSE);
            Assert.Equal(STATUS_SUCCESS, K.Poll(ev));
            Assert.Equal(STATUS_SUCCESS, K.Poll(ev));
            Assert.Equal(1, KeReadStateEvent(ev));
        });
    }

    [Fact]
    public void KeSetEventAndKeResetEvent_ReturnThePreviousState()
    {
        using Machine machine = TestMachine.Deterministic();
        machine.Kernel(() =>
        {
            KEvent ev = K.Event(NotificationEvent);
            Assert.Equal(0, KeSetEvent(ev, 0, FALSE));
            Assert.Equal(1, KeSetEvent(ev, 0, FALSE));
            Assert.Equal(1, KeResetEvent(ev));
            Assert.Equal(0, KeResetEvent(ev));
            Assert.Equal(0, KeReadStateEvent(ev));
        });
    }

    [Fact]
    public void KeClearEvent_SignaledEvent_ReadsNonSignaled()
    {
        using Machine machine = TestMachine.Deterministic();
        machine.Kernel(() =>
        {
            KEvent ev = K.Event(NotificationEvent, state: TRUE);
            Assert.Equal(1, KeReadStateEvent(ev));
            KeClearEvent(ev);
            Assert.Equal(0, KeReadStateEvent(ev));
            Assert.Equal(STATUS_TIMEOUT, K.Poll(ev));
        });
    }

    [Fact]
    public void KeInitializeEvent_Types_HaveTheDispatcherHeaderTypeNumbers()
    {
        // §10.3: event-notification 0, event-synchronization 1 (KOBJECTS numbering).
        KEvent n = K.Event(NotificationEvent);
        KEvent s = K.Event(SynchronizationEvent, state: TRUE);
        Assert.Equal(new DispatcherHeader(DispatcherObjectType.EventNotificationObject, 0), n.Header);
        Assert.Equal(new DispatcherHeader(DispatcherObjectType.EventSynchronizationObject, 1), s.Header);
        Assert.Equal(0, (int)n.Header.Type);
        Assert.Equal(1, (int)s.Header.Type);
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    public void KePulseEvent_NotificationEvent_ReleasesOnlyCurrentWaiters(ulong seed)
    {
        using Machine machine = TestMachine.Deterministic(seed);
        int released = 0, previous = -1, stateAfter = -1;
        NtStatus late = STATUS_PENDING;
        machine.Kernel(() =>
        {
            KEvent ev = K.Event(NotificationEvent);
            KThread a = K.StartThread(() => { K.WaitForever(ev); released++; });
            KThread b = K.StartThread(() => { K.WaitForever(ev); released++; });
            K.LetOthersRun();

            previous = KePulseEvent(ev, 0, FALSE);
            K.Join(a, b);
            stateAfter = KeReadStateEvent(ev);

            // A thread that starts waiting after the pulse is not released by it.
            late = KeWaitForSingleObject(ev, Executive, KernelMode, FALSE, K.OneSecond);
        });

        Assert.Equal(0, previous);
        Assert.Equal(2, released);
        Assert.Equal(0, stateAfter);
        Assert.Equal(STATUS_TIMEOUT, late);
    }

    [Fact]
    public void KePulseEvent_SynchronizationEvent_ReleasesOneWaiter()
    {
        using Machine machine = TestMachine.Deterministic();
        int released = 0, releasedAfterPulse = -1, stateAfter = -1;
        machine.Kernel(() =>
        {
            KEvent ev = K.Event(SynchronizationEvent);
            KThread a = K.StartThread(() => { K.WaitForever(ev); released++; });
            KThread b = K.StartThread(() => { K.WaitForever(ev); released++; });
            K.LetOthersRun();
            KePulseEvent(ev, 0, FALSE);
            K.LetOthersRun();
            releasedAfterPulse = released;
            stateAfter = KeReadStateEvent(ev);
            KeSetEvent(ev, 0, FALSE);
            K.Join(a, b);
        });

        Assert.Equal(1, releasedAfterPulse);
        Assert.Equal(0, stateAfter);
        Assert.Equal(2, released);
    }

    [Fact]
    public void KePulseEvent_NoWaiters_LeavesEventNonSignaled()
    {
        using Machine machine = TestMachine.Deterministic();
        machine.Kernel(() =>
        {
            KEvent ev = K.Event(NotificationEvent);
            Assert.Equal(0, KePulseEvent(ev, 0, FALSE));
            Assert.Equal(0, KeReadStateEvent(ev));
            Assert.Equal(STATUS_TIMEOUT, K.Poll(ev));

            // Pulsing a signaled event returns 1 and leaves it reset.
            KeSetEvent(ev, 0, FALSE);
            Assert.Equal(1, KePulseEvent(ev, 0, FALSE));
            Assert.Equal(0, KeReadStateEvent(ev));
        });
    }

    // ------------------------------------------------------------------ both modes (§10.3), no virtual-time barriers

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void KeSetEvent_NotificationEvent_ReleasesEveryWaiter_BothModes(bool deterministic)
    {
        using Machine machine = TestMachine.Create(deterministic, seed: 5);
        int released = 0;
        int stateAfter = -1;
        machine.Kernel(() =>
        {
            KEvent ev = K.Event(NotificationEvent);
            KSemaphore done = K.Semaphore(0, 10);
            KThread[] waiters = new KThread[4];
            for (int i = 0; i < waiters.Length; i++)
            {
                waiters[i] = K.StartThread(() =>
                {
                    Assert.Equal(STATUS_SUCCESS, K.WaitForever(ev));
                    Interlocked.Increment(ref released);
                    KeReleaseSemaphore(done, 0, 1, FALSE);
                });
            }

            KeSetEvent(ev, 0, FALSE);
            for (int i = 0; i < waiters.Length; i++)
            {
                Assert.Equal(STATUS_SUCCESS, K.WaitForever(done));
            }

            stateAfter = KeReadStateEvent(ev);
            K.Join(waiters);
        });

        Assert.Equal(4, released);
        Assert.Equal(1, stateAfter);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void KeSetEvent_SynchronizationEventPingPong_EachSetReleasesOneWait_BothModes(bool deterministic)
    {
        const int Rounds = 50;
        using Machine machine = TestMachine.Create(deterministic, seed: 9);
        int counter = 0;
        machine.Kernel(() =>
        {
            KEvent ping = K.Event(SynchronizationEvent);
            KEvent pong = K.Event(SynchronizationEvent);
            KThread partner = K.StartThread(() =>
            {
                for (int i = 0; i < Rounds; i++)
                {
                    Assert.Equal(STATUS_SUCCESS, K.WaitForever(ping));
                    Volatile.Write(ref counter, counter + 1);
                    KeSetEvent(pong, 0, FALSE);
                }
            });

            for (int i = 0; i < Rounds; i++)
            {
                KeSetEvent(ping, 0, FALSE);
                Assert.Equal(STATUS_SUCCESS, K.WaitForever(pong));

                // Had the set released more than one wait (no auto-reset), the partner would have run ahead.
                Assert.Equal(i + 1, Volatile.Read(ref counter));
            }

            K.Join(partner);
            Assert.Equal(0, KeReadStateEvent(ping));
            Assert.Equal(0, KeReadStateEvent(pong));
        });

        Assert.Equal(Rounds, counter);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void KeResetEvent_AfterSet_WaitPollTimesOut_BothModes(bool deterministic)
    {
        using Machine machine = TestMachine.Create(deterministic);
        machine.Kernel(() =>
        {
            KEvent ev = K.Event(NotificationEvent);
            Assert.Equal(0, KeSetEvent(ev, 0, FALSE));
            Assert.Equal(STATUS_SUCCESS, K.Poll(ev));
            Assert.Equal(1, KeResetEvent(ev));
            Assert.Equal(STATUS_TIMEOUT, K.Poll(ev));
        });
    }
}
