using IrpLab.Scheduling;

namespace IrpLab;

public static partial class Wdm
{
    public const WorkQueueType CriticalWorkQueue = WorkQueueType.CriticalWorkQueue;
    public const WorkQueueType DelayedWorkQueue = WorkQueueType.DelayedWorkQueue;
    public const WorkQueueType HyperCriticalWorkQueue = WorkQueueType.HyperCriticalWorkQueue;

    /// <summary>IoAllocateWorkItem: a work item for DeviceObject (never NULL here: the model does not run out of pool). IRQL ≤ DISPATCH_LEVEL.</summary>
    public static IoWorkItem IoAllocateWorkItem(DeviceObject DeviceObject)
    {
        ArgumentNullException.ThrowIfNull(DeviceObject);
        KernelChecks.RequireIrql(KThread.Current, IrqlLevel.Dispatch, "IoAllocateWorkItem");
        return new IoWorkItem(DeviceObject);
    }

    /// <summary>
    /// IoQueueWorkItem: queues the item; WorkerRoutine(DeviceObject, Context) runs at PASSIVE_LEVEL on a system
    /// worker thread. The I/O manager holds a reference on the device object until the routine has returned. The item
    /// leaves the queue before the routine runs, so the routine may queue it again or free it; queueing an item that
    /// is still queued is WORKER_INVALID (0xE4 / 0x1). IRQL ≤ DISPATCH_LEVEL.
    /// </summary>
    public static void IoQueueWorkItem(IoWorkItem IoWorkItem, IoWorkItemRoutine WorkerRoutine, WorkQueueType QueueType, object? Context)
    {
        ArgumentNullException.ThrowIfNull(IoWorkItem);
        KThread t = KThread.Current;
        KernelChecks.RequireIrql(t, IrqlLevel.Dispatch, "IoQueueWorkItem");
        Machine m = t.Machine;
        WorkQueueEntry entry = IoWorkItem.Entry;
        CheckQueueable(m, IoWorkItem, entry, WorkerRoutine, QueueType, "IoQueueWorkItem");
        if (entry.State != WorkItemState.Queued)
        {
            IoWorkItem.Routine = WorkerRoutine;
            IoWorkItem.Context = Context;
            entry.RoutineName = WorkerRoutine.Method.Name;
        }

        ObjectManager.Reference(IoWorkItem.DeviceObject);
        Enqueue(m, IoWorkItem, entry, QueueType, "IoQueueWorkItem");
        m.Scheduler.Yield(t, SchedulingPointKind.Signal);
    }

    /// <summary>
    /// IoFreeWorkItem: frees an item that is not queued (freeing it from its own routine is fine). Freeing a queued
    /// item is WORKER_INVALID (0xE4 / 0x2). IRQL ≤ DISPATCH_LEVEL.
    /// </summary>
    public static void IoFreeWorkItem(IoWorkItem IoWorkItem)
    {
        ArgumentNullException.ThrowIfNull(IoWorkItem);
        KThread t = KThread.Current;
        KernelChecks.RequireIrql(t, IrqlLevel.Dispatch, "IoFreeWorkItem");
        Machine m = t.Machine;
        WorkQueueEntry entry = IoWorkItem.Entry;
        lock (m.Dispatcher.SyncRoot)
        {
            if (entry.State != WorkItemState.Queued)
            {
                entry.State = WorkItemState.Freed;
                return;
            }
        }

        throw m.RaiseBugCheck(BugCheckCatalogue.WORKER_INVALID, 0x2, IoWorkItem.DebugAddress(m), 0, 0,
            $"IoFreeWorkItem on work item {entry.RoutineName}, which is still queued: the worker thread will use freed memory. "
            + "Free the item in its routine, or after the routine has run.");
    }

    /// <summary>ExInitializeWorkItem: records the routine and parameter of an executive work item (any IRQL).</summary>
    public static void ExInitializeWorkItem(WorkQueueItem Item, WorkerThreadRoutine Routine, object? Parameter)
    {
        ArgumentNullException.ThrowIfNull(Item);
        ArgumentNullException.ThrowIfNull(Routine);
        Item.WorkerRoutine = Routine;
        Item.Parameter = Parameter;
        Item.Entry.RoutineName = Routine.Method.Name;
        Item.Entry.OwnerDriver = KThread.Current.CurrentDriver;
    }

    /// <summary>
    /// ExQueueWorkItem: queues an executive work item; its routine runs at PASSIVE_LEVEL on a system worker thread.
    /// Nothing keeps the driver loaded meanwhile (prefer IoQueueWorkItem). Queueing an item that is still queued is
    /// WORKER_INVALID (0xE4 / 0x1). IRQL ≤ DISPATCH_LEVEL.
    /// </summary>
    public static void ExQueueWorkItem(WorkQueueItem WorkItem, WorkQueueType QueueType)
    {
        ArgumentNullException.ThrowIfNull(WorkItem);
        KThread t = KThread.Current;
        KernelChecks.RequireIrql(t, IrqlLevel.Dispatch, "ExQueueWorkItem");
        Machine m = t.Machine;
        WorkQueueEntry entry = WorkItem.Entry;
        CheckQueueable(m, WorkItem, entry, WorkItem.WorkerRoutine, QueueType, "ExQueueWorkItem");
        entry.OwnerDriver ??= t.CurrentDriver;
        Enqueue(m, WorkItem, entry, QueueType, "ExQueueWorkItem");
        m.Scheduler.Yield(t, SchedulingPointKind.Signal);
    }

    /// <summary>The queue type and routine checks (WORKER_INVALID 0x6 / 0x7).</summary>
    private static void CheckQueueable(Machine m, KernelObject item, WorkQueueEntry entry, Delegate? routine, WorkQueueType queueType, string api)
    {
        if ((uint)queueType > (uint)WorkQueueType.HyperCriticalWorkQueue)
        {
            throw m.RaiseBugCheck(BugCheckCatalogue.WORKER_INVALID, 0x6, item.DebugAddress(m), (ulong)(uint)queueType, 0,
                $"{api} with queue type {(int)queueType}: not a WORK_QUEUE_TYPE.");
        }

        if (routine is null)
        {
            throw m.RaiseBugCheck(BugCheckCatalogue.WORKER_INVALID, 0x7, item.DebugAddress(m), (ulong)(uint)queueType, 0,
                $"{api} on work item {entry.RoutineName ?? "(uninitialized)"} without a worker routine.");
        }
    }

    /// <summary>Queues the item, or stops the machine if it is still queued (0xE4 / 0x1) or was freed.</summary>
    private static void Enqueue(Machine m, KernelObject item, WorkQueueEntry entry, WorkQueueType queueType, string api)
    {
        switch (m.Workers.Enqueue(entry, queueType))
        {
            case WorkItemState.Queued:
                throw m.RaiseBugCheck(BugCheckCatalogue.WORKER_INVALID, 0x1, item.DebugAddress(m), (ulong)entry.QueueType, 0,
                    $"{api} on work item {entry.RoutineName}, which is already queued (its routine has not started yet). "
                    + "A work item may be queued again only once its routine has begun.");
            case WorkItemState.Freed:
                // The model's freed item is still an object; Windows would touch freed pool.
                throw new NtStatusException(NtStatus.STATUS_ACCESS_VIOLATION);
            default:
                return;
        }
    }
}
