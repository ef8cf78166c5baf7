using IrpLab.Scheduling;

namespace IrpLab;

/// <summary>
/// The kernel routines a driver calls, with their Windows names, parameters and return values. Import with
/// <c>using static IrpLab.Wdm;</c> and <c>using static IrpLab.NtStatus;</c> so driver code reads like the C original.
/// Every routine must be called from inside a machine (a driver routine or a system thread).
/// </summary>
public static partial class Wdm
{
    public const byte PASSIVE_LEVEL = IrqlLevel.Passive;
    public const byte LOW_LEVEL = IrqlLevel.Passive;
    public const byte APC_LEVEL = IrqlLevel.Apc;
    public const byte DISPATCH_LEVEL = IrqlLevel.Dispatch;
    public const byte CLOCK_LEVEL = IrqlLevel.Clock;
    public const byte IPI_LEVEL = IrqlLevel.Ipi;
    public const byte POWER_LEVEL = IrqlLevel.Power;
    public const byte PROFILE_LEVEL = IrqlLevel.Profile;
    public const byte HIGH_LEVEL = IrqlLevel.High;

    public const KProcessorMode KernelMode = KProcessorMode.KernelMode;
    public const KProcessorMode UserMode = KProcessorMode.UserMode;
    public const KWaitReason Executive = KWaitReason.Executive;
    public const KWaitReason UserRequest = KWaitReason.UserRequest;
    public const WaitType WaitAll = WaitType.WaitAll;
    public const WaitType WaitAny = WaitType.WaitAny;
    public const EventType NotificationEvent = EventType.NotificationEvent;
    public const EventType SynchronizationEvent = EventType.SynchronizationEvent;
    public const TimerType NotificationTimer = TimerType.NotificationTimer;
    public const TimerType SynchronizationTimer = TimerType.SynchronizationTimer;

    /// <summary>THREAD_WAIT_OBJECTS: above this KeWaitForMultipleObjects needs a WaitBlockArray in C.</summary>
    public const int THREAD_WAIT_OBJECTS = 3;

    // ---------------------------------------------------------------- IRQL

    /// <summary>KeGetCurrentIrql.</summary>
    public static byte KeGetCurrentIrql() => KThread.Current.Irql;

    /// <summary>KeRaiseIrql: NewIrql must not be below the current IRQL.</summary>
    public static void KeRaiseIrql(byte NewIrql, out byte OldIrql) => KernelChecks.RaiseIrql(KThread.Current, NewIrql, out OldIrql);

    /// <summary>KeRaiseIrqlToDpcLevel.</summary>
    public static byte KeRaiseIrqlToDpcLevel()
    {
        KernelChecks.RaiseIrql(KThread.Current, IrqlLevel.Dispatch, out byte old);
        return old;
    }

    /// <summary>KeLowerIrql: NewIrql must not be above the current IRQL.</summary>
    public static void KeLowerIrql(byte NewIrql) => KernelChecks.LowerIrql(KThread.Current, NewIrql);

    /// <summary>KeGetCurrentProcessorNumber.</summary>
    public static uint KeGetCurrentProcessorNumber() => (uint)KThread.Current.Processor;

    /// <summary>KeQueryActiveProcessorCount.</summary>
    public static uint KeQueryActiveProcessorCount(out ulong ActiveProcessors)
    {
        int n = KThread.Current.Machine.Options.Processors;
        ActiveProcessors = n >= 64 ? ulong.MaxValue : (1UL << n) - 1;
        return (uint)n;
    }

    // ---------------------------------------------------------------- spin locks

    /// <summary>KeInitializeSpinLock.</summary>
    public static void KeInitializeSpinLock(KSpinLock SpinLock)
    {
        ArgumentNullException.ThrowIfNull(SpinLock);
        SpinLock.Owner = null;
        SpinLock.Spinners?.Clear();
    }

    /// <summary>KeAcquireSpinLock: raises to DISPATCH_LEVEL and spins until the lock is free (IRQL ≤ DISPATCH_LEVEL).</summary>
    public static void KeAcquireSpinLock(KSpinLock SpinLock, out byte OldIrql)
        => KernelChecks.AcquireSpinLock(KThread.Current, SpinLock, out OldIrql);

    /// <summary>KeAcquireSpinLockRaiseToDpc.</summary>
    public static byte KeAcquireSpinLockRaiseToDpc(KSpinLock SpinLock)
    {
        KernelChecks.AcquireSpinLock(KThread.Current, SpinLock, out byte old);
        return old;
    }

    /// <summary>KeReleaseSpinLock: releases and lowers to NewIrql (called at DISPATCH_LEVEL).</summary>
    public static void KeReleaseSpinLock(KSpinLock SpinLock, byte NewIrql)
        => KernelChecks.ReleaseSpinLock(KThread.Current, SpinLock, NewIrql, fromDpcLevelApi: false);

    /// <summary>KeAcquireSpinLockAtDpcLevel: the caller is already at DISPATCH_LEVEL.</summary>
    public static void KeAcquireSpinLockAtDpcLevel(KSpinLock SpinLock)
        => KernelChecks.AcquireAtDpcLevel(KThread.Current, SpinLock, fromDpcLevelApi: true);

    /// <summary>KeReleaseSpinLockFromDpcLevel: releases without changing the IRQL.</summary>
    public static void KeReleaseSpinLockFromDpcLevel(KSpinLock SpinLock)
    {
        KThread t = KThread.Current;
        KernelChecks.ReleaseSpinLock(t, SpinLock, t.Irql, fromDpcLevelApi: true);
    }

    /// <summary>KeTestSpinLock: true when the lock looks free.</summary>
    public static bool KeTestSpinLock(KSpinLock SpinLock) => !SpinLock.IsHeld;

    // ---------------------------------------------------------------- events

    /// <summary>KeInitializeEvent.</summary>
    public static void KeInitializeEvent(KEvent Event, EventType Type, bool State)
    {
        ArgumentNullException.ThrowIfNull(Event);
        Event.Initialize(Type, State);
    }

    /// <summary>
    /// KeSetEvent: signals the event and returns its previous state. A notification event releases every waiter;
    /// a synchronization event one. Wait = TRUE promises an immediate KeWaitXxx (it changes nothing observable here).
    /// </summary>
    public static int KeSetEvent(KEvent Event, int Increment, bool Wait)
    {
        KThread t = KThread.Current;
        KernelChecks.RequireIrql(t, Wait ? IrqlLevel.Apc : IrqlLevel.Dispatch, "KeSetEvent");
        int previous;
        KernelDispatcher d = t.Machine.Dispatcher;
        lock (d.SyncRoot)
        {
            previous = Event.Set(d);
        }

        t.Machine.Scheduler.Yield(t, SchedulingPointKind.Signal);
        return previous;
    }

    /// <summary>KePulseEvent: sets and resets at once, releasing only the threads waiting now.</summary>
    public static int KePulseEvent(KEvent Event, int Increment, bool Wait)
    {
        KThread t = KThread.Current;
        KernelChecks.RequireIrql(t, Wait ? IrqlLevel.Apc : IrqlLevel.Dispatch, "KePulseEvent");
        int previous;
        KernelDispatcher d = t.Machine.Dispatcher;
        lock (d.SyncRoot)
        {
            previous = Event.Pulse(d);
        }

        t.Machine.Scheduler.Yield(t, SchedulingPointKind.Signal);
        return previous;
    }

    /// <summary>KeResetEvent: returns the previous state.</summary>
    public static int KeResetEvent(KEvent Event)
    {
        KThread t = KThread.Current;
        KernelChecks.RequireIrql(t, IrqlLevel.Dispatch, "KeResetEvent");
        lock (t.Machine.Dispatcher.SyncRoot)
        {
            return Event.Reset();
        }
    }

    /// <summary>KeClearEvent.</summary>
    public static void KeClearEvent(KEvent Event)
    {
        ArgumentNullException.ThrowIfNull(Event);
        Volatile.Write(ref Event.SignalState, 0);
    }

    /// <summary>KeReadStateEvent.</summary>
    public static int KeReadStateEvent(KEvent Event) => Volatile.Read(ref Event.SignalState);

    // ---------------------------------------------------------------- semaphores and mutexes

    /// <summary>KeInitializeSemaphore.</summary>
    public static void KeInitializeSemaphore(KSemaphore Semaphore, int Count, int Limit)
    {
        ArgumentNullException.ThrowIfNull(Semaphore);
        Semaphore.Initialize(Count, Limit);
    }

    /// <summary>
    /// KeReleaseSemaphore: adds Adjustment to the count and returns the previous count. Passing the limit raises
    /// STATUS_SEMAPHORE_LIMIT_EXCEEDED (a driver that does not catch it bug-checks, as on Windows).
    /// </summary>
    public static int KeReleaseSemaphore(KSemaphore Semaphore, int Increment, int Adjustment, bool Wait)
    {
        KThread t = KThread.Current;
        KernelChecks.RequireIrql(t, Wait ? IrqlLevel.Apc : IrqlLevel.Dispatch, "KeReleaseSemaphore");
        int? previous;
        KernelDispatcher d = t.Machine.Dispatcher;
        lock (d.SyncRoot)
        {
            previous = Semaphore.Release(d, Adjustment);
        }

        if (previous is null)
        {
            throw new NtStatusException(NtStatus.STATUS_SEMAPHORE_LIMIT_EXCEEDED);
        }

        t.Machine.Scheduler.Yield(t, SchedulingPointKind.Signal);
        return previous.Value;
    }

    /// <summary>KeReadStateSemaphore: the current count.</summary>
    public static int KeReadStateSemaphore(KSemaphore Semaphore) => Volatile.Read(ref Semaphore.SignalState);

    /// <summary>KeInitializeMutex: free (signaled).</summary>
    public static void KeInitializeMutex(KMutex Mutex, uint Level)
    {
        ArgumentNullException.ThrowIfNull(Mutex);
        Mutex.Initialize();
    }

    /// <summary>
    /// KeReleaseMutex: releases one level of ownership; returns the previous state. Releasing a mutex the thread does
    /// not own raises STATUS_MUTANT_NOT_OWNED.
    /// </summary>
    public static int KeReleaseMutex(KMutex Mutex, bool Wait)
    {
        KThread t = KThread.Current;
        KernelChecks.RequireIrql(t, Wait ? IrqlLevel.Apc : IrqlLevel.Dispatch, "KeReleaseMutex");
        int? previous;
        KernelDispatcher d = t.Machine.Dispatcher;
        lock (d.SyncRoot)
        {
            previous = Mutex.Release(d, t);
        }

        if (previous is null)
        {
            throw new NtStatusException(NtStatus.STATUS_MUTANT_NOT_OWNED);
        }

        t.Machine.Scheduler.Yield(t, SchedulingPointKind.Signal);
        return previous.Value;
    }

    /// <summary>KeReadStateMutex: 1 when free; 1 - recursion count when owned.</summary>
    public static int KeReadStateMutex(KMutex Mutex) => Volatile.Read(ref Mutex.SignalState);

    // ---------------------------------------------------------------- waits

    /// <summary>
    /// KeWaitForSingleObject. Timeout: null waits forever; 0 polls; negative is relative (100 ns units);
    /// positive is an absolute system time. Returns STATUS_SUCCESS, STATUS_ABANDONED_WAIT_0, STATUS_TIMEOUT,
    /// STATUS_USER_APC or STATUS_ALERTED. At DISPATCH_LEVEL only a zero timeout is legal.
    /// </summary>
    public static NtStatus KeWaitForSingleObject(DispatcherObject Object, KWaitReason WaitReason, KProcessorMode WaitMode, bool Alertable, long? Timeout)
    {
        ArgumentNullException.ThrowIfNull(Object);
        KThread t = KThread.Current;
        KernelChecks.CheckWaitIrql(t, Object, Timeout);
        t.Machine.Scheduler.Yield(t, SchedulingPointKind.Wait);
        return t.Machine.Dispatcher.Wait(t, [Object], WaitType.WaitAny, WaitMode, Alertable, Timeout);
    }

    /// <summary>
    /// KeWaitForMultipleObjects. WaitAny returns STATUS_WAIT_0 + the lowest signaled index and changes only that
    /// object; WaitAll acquires all at once. More than 64 objects is bug check 0xC. The wait block array is
    /// accepted for fidelity; the machine provides its own.
    /// </summary>
    public static NtStatus KeWaitForMultipleObjects(int Count, DispatcherObject[] Object, WaitType WaitType, KWaitReason WaitReason, KProcessorMode WaitMode, bool Alertable, long? Timeout, object? WaitBlockArray)
    {
        ArgumentNullException.ThrowIfNull(Object);
        KThread t = KThread.Current;
        if (Count > MAXIMUM_WAIT_OBJECTS)
        {
            throw t.Machine.RaiseBugCheck(BugCheckCatalogue.MAXIMUM_WAIT_OBJECTS_EXCEEDED, (ulong)Count, 0, 0, 0,
                $"KeWaitForMultipleObjects was given {Count} objects; at most {MAXIMUM_WAIT_OBJECTS} are allowed.");
        }

        KernelChecks.CheckWaitIrql(t, Count > 0 ? Object[0] : null, Timeout);
        t.Machine.Scheduler.Yield(t, SchedulingPointKind.Wait);
        // A read-only span: the array may be a covariant KThread[] or KEvent[], where a writable span would throw.
        return t.Machine.Dispatcher.Wait(t, new ReadOnlySpan<DispatcherObject>(Object, 0, Count), WaitType, WaitMode, Alertable, Timeout);
    }

    /// <summary>
    /// KeDelayExecutionThread: waits for Interval (negative relative, positive absolute, 100 ns units).
    /// Returns STATUS_SUCCESS when it elapsed, or STATUS_USER_APC / STATUS_ALERTED for an alertable wait.
    /// </summary>
    public static NtStatus KeDelayExecutionThread(KProcessorMode WaitMode, bool Alertable, long Interval)
    {
        KThread t = KThread.Current;
        KernelChecks.RequireIrql(t, IrqlLevel.Apc, "KeDelayExecutionThread");
        t.Machine.Scheduler.Yield(t, SchedulingPointKind.Wait);
        NtStatus status = t.Machine.Dispatcher.Wait(t, [], WaitType.WaitAny, WaitMode, Alertable, Interval);
        return status == NtStatus.STATUS_TIMEOUT ? NtStatus.STATUS_SUCCESS : status;
    }

    // ---------------------------------------------------------------- time

    /// <summary>KeQuerySystemTime: 100 ns units since 1601-01-01 UTC.</summary>
    public static void KeQuerySystemTime(out LargeInteger CurrentTime) => CurrentTime = KThread.Current.Machine.Clock.SystemTime;

    /// <summary>KeQueryTickCount: clock interrupts since boot.</summary>
    public static void KeQueryTickCount(out LargeInteger TickCount) => TickCount = KThread.Current.Machine.Clock.TickCount;

    /// <summary>KeQueryInterruptTime: 100 ns units since boot.</summary>
    public static ulong KeQueryInterruptTime() => (ulong)KThread.Current.Machine.Clock.InterruptTime;

    /// <summary>KeQueryTimeIncrement: 100 ns units per clock tick.</summary>
    public static uint KeQueryTimeIncrement() => MachineClock.TimeIncrement;
}
