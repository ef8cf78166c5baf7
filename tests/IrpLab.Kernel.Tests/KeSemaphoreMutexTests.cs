using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Tests;

/// <summary>KSEMAPHORE and KMUTEX (nt-io-semantics §10.3, §10.4).</summary>
public sealed class KeSemaphoreMutexTests
{
    // ------------------------------------------------------------------ semaphores

    [Fact]
    public void KeReleaseSemaphore_WithinLimit_ReturnsPreviousCountAndEachWaitTakesOne()
    {
        using Machine machine = TestMachine.Deterministic();
        machine.Kernel(() =>
        {
            KSemaphore s = K.Semaphore(1, 3);
            Assert.Equal(new DispatcherHeader(DispatcherObjectType.SemaphoreObject, 1), s.Header);

            // §10.3: KeReleaseSemaphore returns the previous count; a wait decrements the count by one.
            Assert.Equal(1, KeReleaseSemaphore(s, 0, 2, FALSE));
            Assert.Equal(3, KeReadStateSemaphore(s));
            Assert.Equal(STATUS_SUCCESS, K.Poll(s));
            Assert.Equal(STATUS_SUCCESS, K.Poll(s));
            Assert.Equal(1, KeReadStateSemaphore(s));
            Assert.Equal(STATUS_SUCCESS, K.Poll(s));
            Assert.Equal(STATUS_TIMEOUT, K.Poll(s));
            Assert.Equal(0, KeReadStateSemaphore(s));
        });
    }

    [Fact]
    public void KeReleaseSemaphore_AdjustmentOfTwo_ReleasesTwoWaiters()
    {
        using Machine machine = TestMachine.Deterministic(seed: 4);
        int released = 0, releasedAfter = -1, countAfter = -1;
        machine.Kernel(() =>
        {
            KSemaphore s = K.Semaphore(0, 5);
            KThread[] waiters = [K.StartThread(() => { K.WaitForever(s); released++; }), K.StartThread(() => { K.WaitForever(s); released++; }), K.StartThread(() => { K.WaitForever(s); released++; })];
            K.LetOthersRun();
            KeReleaseSemaphore(s, 0, 2, FALSE);
            K.LetOthersRun();
            (releasedAfter, countAfter) = (released, KeReadStateSemaphore(s));
            KeReleaseSemaphore(s, 0, 1, FALSE);
            K.Join(waiters);
        });

        Assert.Equal(2, releasedAfter);
        Assert.Equal(0, countAfter);
        Assert.Equal(3, released);
    }

    [Fact]
    public void KeReleaseSemaphore_PastTheLimit_RaisesSemaphoreLimitExceededAndKeepsTheCount()
    {
        using Machine machine = TestMachine.Deterministic();
        NtStatusException? raised = null;
        int countAfter = -1;
        machine.Kernel(() =>
        {
            KSemaphore s = K.Semaphore(2, 3);
            raised = Assert.Throws<NtStatusException>(() => KeReleaseSemaphore(s, 0, 2, FALSE));
            countAfter = KeReadStateSemaphore(s);
        });

        // §10.3: exceeding Limit raises STATUS_SEMAPHORE_LIMIT_EXCEEDED.
        Assert.Equal(STATUS_SEMAPHORE_LIMIT_EXCEEDED, raised!.Status);
        Assert.Equal(2, countAfter);
    }

    [Fact]
    public void KeReleaseSemaphore_PastTheLimitUncaughtOnSystemThread_BugChecks0x7E()
    {
        using Machine machine = TestMachine.Deterministic();
        KThread? sibling = null;
        BugCheckInfo bugCheck = machine.ExpectBugCheck(() =>
        {
            KEvent never = K.Event(NotificationEvent);
            sibling = K.StartThread(() => K.WaitForever(never));
            K.LetOthersRun();
            KSemaphore s = K.Semaphore(1, 1);
            KeReleaseSemaphore(s, 0, 1, FALSE);
        });

        // A raised status nothing catches on a system thread: SYSTEM_THREAD_EXCEPTION_NOT_HANDLED, P1 = the status.
        Assert.Equal(BugCheckCatalogue.SYSTEM_THREAD_EXCEPTION_NOT_HANDLED, bugCheck.Code);
        Assert.Equal(unchecked((ulong)(uint)STATUS_SEMAPHORE_LIMIT_EXCEEDED), bugCheck.Parameter1);
        Assert.IsType<NtStatusException>(bugCheck.Exception);
        Assert.True(sibling!.HostExited.Wait(TimeSpan.FromSeconds(10)), "the waiting sibling thread was not unwound");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void KeReleaseSemaphore_ProducerConsumer_EveryReleaseIsConsumedOnce_BothModes(bool deterministic)
    {
        const int Items = 100;
        using Machine machine = TestMachine.Create(deterministic, seed: 11);
        int consumed = 0;
        machine.Kernel(() =>
        {
            KSemaphore items = K.Semaphore(0, Items);
            KThread consumer = K.StartThread(() =>
            {
                for (int i = 0; i < Items; i++)
                {
                    Assert.Equal(STATUS_SUCCESS, K.WaitForever(items));
                    consumed++;
                }
            });

            for (int i = 0; i < Items; i++)
            {
                KeReleaseSemaphore(items, 0, 1, FALSE);
            }

            K.Join(consumer);
            Assert.Equal(0, KeReadStateSemaphore(items));
            Assert.Equal(STATUS_TIMEOUT, K.Poll(items));
        });

        Assert.Equal(Items, consumed);
    }

    // ------------------------------------------------------------------ mutexes

    [Fact]
    public void KeWaitForSingleObject_MutexOwner_ReacquiresRecursivelyAndReleasesOneLevelAtATime()
    {
        using Machine machine = TestMachine.Deterministic();
        machine.Kernel(() =>
        {
            var m = new KMutex();
            KeInitializeMutex(m, 0);
            Assert.Equal(new DispatcherHeader(DispatcherObjectType.MutantObject, 1), m.Header);
            Assert.Equal(STATUS_SUCCESS, K.WaitForever(m));
            Assert.Equal(0, KeReadStateMutex(m));

            // §10.3: recursive for the owner.
            Assert.Equal(STATUS_SUCCESS, K.WaitForever(m));
            Assert.Equal(STATUS_SUCCESS, K.Poll(m));
            Assert.Equal(-2, KeReadStateMutex(m));

            // KeReleaseMutex returns the previous state; the mutex is free only after the last release.
            Assert.Equal(-2, KeReleaseMutex(m, FALSE));
            Assert.Equal(-1, KeReleaseMutex(m, FALSE));
            Assert.Equal(0, KeReleaseMutex(m, FALSE));
            Assert.Equal(1, KeReadStateMutex(m));
        });
    }

    [Fact]
    public void KeWaitForSingleObject_MutexOwnedByAnotherThread_WaitsUntilTheLastRelease()
    {
        using Machine machine = TestMachine.Deterministic(seed: 2);
        var order = new List<string>();
        machine.Kernel(() =>
        {
            var m = new KMutex();
            KeInitializeMutex(m, 0);
            KEvent acquired = K.Event(NotificationEvent);
            KEvent release = K.Event(NotificationEvent);
            KThread owner = K.StartThread(() =>
            {
                K.WaitForever(m);
                K.WaitForever(m);
                KeSetEvent(acquired, 0, FALSE);
                K.WaitForever(release);
                KeReleaseMutex(m, FALSE);
                order.Add("owner released once");
                KeDelayExecutionThread(KernelMode, FALSE, RELATIVE(SECONDS(1)));
                order.Add("owner releases the last level");
                KeReleaseMutex(m, FALSE);
            });

            K.WaitForever(acquired);
            Assert.Equal(STATUS_TIMEOUT, K.Poll(m));
            KeSetEvent(release, 0, FALSE);
            Assert.Equal(STATUS_SUCCESS, K.WaitForever(m));
            order.Add("main acquired");
            KeReleaseMutex(m, FALSE);
            K.Join(owner);
        });

        Assert.Equal(["owner released once", "owner releases the last level", "main acquired"], order);
    }

    [Fact]
    public void KeReleaseMutex_ByNonOwner_RaisesMutantNotOwned()
    {
        using Machine machine = TestMachine.Deterministic();
        NtStatusException? free = null, otherOwner = null;
        machine.Kernel(() =>
        {
            var m = new KMutex();
            KeInitializeMutex(m, 0);
            free = Assert.Throws<NtStatusException>(() => KeReleaseMutex(m, FALSE));

            KEvent acquired = K.Event(NotificationEvent);
            KEvent done = K.Event(NotificationEvent);
            KThread owner = K.StartThread(() =>
            {
                K.WaitForever(m);
                KeSetEvent(acquired, 0, FALSE);
                K.WaitForever(done);
                KeReleaseMutex(m, FALSE);
            });
            K.WaitForever(acquired);
            otherOwner = Assert.Throws<NtStatusException>(() => KeReleaseMutex(m, FALSE));
            Assert.Equal(0, KeReadStateMutex(m));
            KeSetEvent(done, 0, FALSE);
            K.Join(owner);
            Assert.Equal(1, KeReadStateMutex(m));
        });

        Assert.Equal(STATUS_MUTANT_NOT_OWNED, free!.Status);
        Assert.Equal(STATUS_MUTANT_NOT_OWNED, otherOwner!.Status);
    }

    [Fact]
    public void KeWaitForSingleObject_MutexAbandonedWhileWaiting_ReturnsAbandonedWait0()
    {
        using Machine machine = TestMachine.Deterministic(seed: 6);
        NtStatus status = STATUS_PENDING, again = STATUS_PENDING;
        machine.Kernel(() =>
        {
            var m = new KMutex();
            KeInitializeMutex(m, 0);
            KEvent acquired = K.Event(NotificationEvent);
            KThread owner = K.StartThread(() =>
            {
                K.WaitForever(m);
                KeSetEvent(acquired, 0, FALSE);
                KeDelayExecutionThread(KernelMode, FALSE, RELATIVE(SECONDS(1)));

                // Exits holding the mutex.
            });

            K.WaitForever(acquired);

            // §10.3: a mutex left owned by an exiting thread is abandoned; the next wait returns STATUS_ABANDONED_WAIT_0.
            status = K.WaitForever(m);
            Assert.Equal(0, KeReadStateMutex(m));
            KeReleaseMutex(m, FALSE);

            // The abandoned state is consumed by that acquisition.
            again = K.WaitForever(m);
            KeReleaseMutex(m, FALSE);
            K.Join(owner);
        });

        Assert.Equal(STATUS_ABANDONED_WAIT_0, status);
        Assert.Equal(0x80, (int)status);
        Assert.Equal(STATUS_SUCCESS, again);
    }

    [Fact]
    public void KeWaitForMultipleObjects_MutexAbandonedBeforeTheWait_ReturnsAbandonedWaitN()
    {
        using Machine machine = TestMachine.Deterministic();
        NtStatus status = STATUS_PENDING;
        machine.Kernel(() =>
        {
            var m = new KMutex();
            KeInitializeMutex(m, 0);
            KEvent never = K.Event(NotificationEvent);
            K.Join(K.StartThread(() => K.WaitForever(m)));

            status = KeWaitForMultipleObjects(2, [never, m], WaitAny, Executive, KernelMode, FALSE, null, null);
            KeReleaseMutex(m, FALSE);
        });

        // §10.4: STATUS_ABANDONED_WAIT_0 + i for an abandoned mutex at index i.
        Assert.Equal((NtStatus)0x81, status);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void KeWaitForSingleObject_MutexAroundReadModifyWrite_NoUpdateIsLost_BothModes(bool deterministic)
    {
        const int Iterations = 200;
        using Machine machine = TestMachine.Create(deterministic, seed: 13);
        int counter = 0;
        machine.Kernel(() =>
        {
            var m = new KMutex();
            KeInitializeMutex(m, 0);
            KEvent poke = K.Event(NotificationEvent);
            void Work()
            {
                for (int i = 0; i < Iterations; i++)
                {
                    K.WaitForever(m);
                    int v = counter;
                    KeSetEvent(poke, 0, FALSE); // a scheduling point inside the critical section
                    Thread.SpinWait(5);
                    counter = v + 1;
                    KeReleaseMutex(m, FALSE);
                }
            }

            K.Join(K.StartThread(Work), K.StartThread(Work));
        });

        Assert.Equal(2 * Iterations, counter);
    }
}
