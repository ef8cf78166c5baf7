namespace IrpLab;

/// <summary>DISPATCHER_HEADER.Type values (KOBJECTS numbering).</summary>
public enum DispatcherObjectType : byte
{
    EventNotificationObject = 0,
    EventSynchronizationObject = 1,
    MutantObject = 2,
    ProcessObject = 3,
    QueueObject = 4,
    SemaphoreObject = 5,
    ThreadObject = 6,
    GateObject = 7,
    TimerNotificationObject = 8,
    TimerSynchronizationObject = 9,
}

/// <summary>A read-only view of a dispatcher object's header.</summary>
public readonly record struct DispatcherHeader(DispatcherObjectType Type, int SignalState);

/// <summary>
/// Anything a thread can wait on: events, semaphores, mutexes, threads, processes, timers, queues.
/// The state and the wait list are guarded by the machine's dispatcher lock; nothing here is a WaitHandle.
/// Invariant: a waiter is linked in <see cref="WaitListHead"/> only while its thread is in the Waiting state.
/// </summary>
public abstract class DispatcherObject : KernelObject
{
    /// <summary>Greater than zero: signaled. For a mutex, 1 - recursion count.</summary>
    internal int SignalState;

    internal DispatcherObjectType DispatcherType;

    internal WaitBlock? WaitListHead;

    internal WaitBlock? WaitListTail;

    public DispatcherHeader Header => new(DispatcherType, Volatile.Read(ref SignalState));

    internal bool HasWaiters => WaitListHead is not null;

    /// <summary>Whether a wait by <paramref name="thread"/> would be satisfied now.</summary>
    internal virtual bool IsSignaledFor(KThread thread) => SignalState > 0;

    /// <summary>Applies the side effect of a satisfied wait (auto-reset, count decrement, acquisition).</summary>
    internal virtual void OnWaitSatisfied(KThread thread)
    {
    }

    internal void LinkWaitBlock(WaitBlock block)
    {
        block.Previous = WaitListTail;
        block.Next = null;
        if (WaitListTail is null)
        {
            WaitListHead = block;
        }
        else
        {
            WaitListTail.Next = block;
        }

        WaitListTail = block;
    }

    internal void UnlinkWaitBlock(WaitBlock block)
    {
        if (block.Previous is null)
        {
            WaitListHead = block.Next;
        }
        else
        {
            block.Previous.Next = block.Next;
        }

        if (block.Next is null)
        {
            WaitListTail = block.Previous;
        }
        else
        {
            block.Next.Previous = block.Previous;
        }

        block.Next = null;
        block.Previous = null;
    }
}

/// <summary>KWAIT_BLOCK: one thread waiting on one object. Each thread owns a fixed array of them.</summary>
internal sealed class WaitBlock
{
    public WaitBlock(KThread thread)
    {
        Thread = thread;
    }

    public KThread Thread { get; }

    public DispatcherObject? Object;

    public int WaitKey;

    public WaitBlock? Next;

    public WaitBlock? Previous;
}
