namespace IrpLab;

/// <summary>
/// KEVENT. A notification event releases every waiter and stays signaled until cleared; a synchronization event
/// releases one waiter and resets itself (or stays signaled until one wait consumes it).
/// </summary>
public sealed class KEvent : DispatcherObject
{
    public KEvent()
    {
        DispatcherType = DispatcherObjectType.EventNotificationObject;
    }

    internal KEvent(EventType type, bool state)
    {
        Initialize(type, state);
    }

    internal override ObjectType Type => ObjectType.Event;

    internal EventType EventType => DispatcherType == DispatcherObjectType.EventSynchronizationObject
        ? EventType.SynchronizationEvent
        : EventType.NotificationEvent;

    internal void Initialize(EventType type, bool state)
    {
        DispatcherType = type == EventType.SynchronizationEvent
            ? DispatcherObjectType.EventSynchronizationObject
            : DispatcherObjectType.EventNotificationObject;
        SignalState = state ? 1 : 0;
        WaitListHead = null;
        WaitListTail = null;
    }

    internal override void OnWaitSatisfied(KThread thread)
    {
        if (DispatcherType == DispatcherObjectType.EventSynchronizationObject)
        {
            SignalState = 0;
        }
    }

    /// <summary>Sets the event (lock held); returns the previous state.</summary>
    internal int Set(KernelDispatcher dispatcher)
    {
        int previous = SignalState;
        if (previous == 0)
        {
            SignalState = 1;
            dispatcher.WaitTest(this);
        }

        return previous;
    }

    /// <summary>Signals and immediately resets: releases only the threads waiting right now.</summary>
    internal int Pulse(KernelDispatcher dispatcher)
    {
        int previous = SignalState;
        if (previous == 0)
        {
            SignalState = 1;
            dispatcher.WaitTest(this);
        }

        SignalState = 0;
        return previous;
    }

    internal int Reset()
    {
        int previous = SignalState;
        SignalState = 0;
        return previous;
    }
}

/// <summary>KSEMAPHORE: a count between 0 and a limit; each satisfied wait takes one.</summary>
public sealed class KSemaphore : DispatcherObject
{
    public KSemaphore()
    {
        DispatcherType = DispatcherObjectType.SemaphoreObject;
    }

    internal int Limit;

    internal override ObjectType Type => ObjectType.Semaphore;

    internal void Initialize(int count, int limit)
    {
        SignalState = count;
        Limit = limit;
        WaitListHead = null;
        WaitListTail = null;
    }

    internal override void OnWaitSatisfied(KThread thread) => SignalState--;

    /// <summary>Adds to the count (lock held); returns the previous count, or null when the limit would be passed.</summary>
    internal int? Release(KernelDispatcher dispatcher, int adjustment)
    {
        int previous = SignalState;
        long next = (long)previous + adjustment;
        if (adjustment <= 0 || next > Limit)
        {
            return null;
        }

        SignalState = (int)next;
        if (previous == 0)
        {
            dispatcher.WaitTest(this);
        }

        return previous;
    }
}

/// <summary>
/// KMUTEX (a mutant owned by a kernel thread): recursive for its owner; abandoned when the owner exits holding it,
/// after which the next wait that acquires it returns STATUS_ABANDONED_WAIT_n.
/// </summary>
public sealed class KMutex : DispatcherObject
{
    public KMutex()
    {
        DispatcherType = DispatcherObjectType.MutantObject;
        SignalState = 1;
    }

    internal KThread? Owner;

    internal bool Abandoned;

    internal override ObjectType Type => ObjectType.Mutant;

    internal void Initialize()
    {
        SignalState = 1;
        Owner = null;
        Abandoned = false;
        WaitListHead = null;
        WaitListTail = null;
    }

    internal override bool IsSignaledFor(KThread thread) => SignalState > 0 || Owner == thread;

    internal override void OnWaitSatisfied(KThread thread)
    {
        SignalState--;
        if (Owner != thread)
        {
            Owner = thread;
            Abandoned = false;
            (thread.OwnedMutexes ??= []).Add(this);
            thread.KernelApcDisable++;
        }
        else
        {
            Abandoned = false;
        }
    }

    /// <summary>Releases one level of ownership (lock held). Returns the previous state, or null if not the owner.</summary>
    internal int? Release(KernelDispatcher dispatcher, KThread thread)
    {
        if (Owner != thread)
        {
            return null;
        }

        int previous = SignalState;
        SignalState++;
        if (SignalState == 1)
        {
            Owner = null;
            thread.OwnedMutexes?.Remove(this);
            thread.KernelApcDisable--;
            dispatcher.WaitTest(this);
        }

        return previous;
    }

    internal void Abandon()
    {
        Owner?.OwnedMutexes?.Remove(this);
        Owner = null;
        SignalState = 1;
        Abandoned = true;
    }
}
