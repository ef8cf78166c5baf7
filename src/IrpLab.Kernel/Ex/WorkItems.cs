namespace IrpLab;

/// <summary>WORK_QUEUE_TYPE: which system worker queue runs a work item.</summary>
public enum WorkQueueType
{
    CriticalWorkQueue = 0,
    DelayedWorkQueue = 1,
    HyperCriticalWorkQueue = 2,
}

/// <summary>IO_WORKITEM_ROUTINE: runs at PASSIVE_LEVEL on a system worker thread.</summary>
public delegate void IoWorkItemRoutine(DeviceObject DeviceObject, object? Context);

/// <summary>WORKER_THREAD_ROUTINE: an ExQueueWorkItem routine; runs at PASSIVE_LEVEL on a system worker thread.</summary>
public delegate void WorkerThreadRoutine(object? Parameter);

/// <summary>Where a work item is in its life. Transitions are checked by the Wdm routines (bug check 0xE4).</summary>
internal enum WorkItemState
{
    Invalid = 0,

    /// <summary>Allocated or initialized, not queued (also after its routine has returned).</summary>
    Idle = 1,

    /// <summary>In a worker queue: queueing or freeing it now is a bug.</summary>
    Queued = 2,

    /// <summary>Taken by a worker thread; its routine runs and may queue it again or free it.</summary>
    Running = 3,

    /// <summary>IoFreeWorkItem was called.</summary>
    Freed = 4,
}

/// <summary>
/// A work item's link in a worker queue, shared by IO_WORKITEM and WORK_QUEUE_ITEM. State guarded by the dispatcher
/// lock.
/// </summary>
internal sealed class WorkQueueEntry
{
    public WorkQueueEntry(KernelObject owner)
    {
        Owner = owner;
    }

    /// <summary>The <see cref="IoWorkItem"/> or <see cref="WorkQueueItem"/> this entry belongs to.</summary>
    public KernelObject Owner { get; }

    public WorkQueueEntry? Next;

    public WorkItemState State = WorkItemState.Idle;

    public WorkQueueType QueueType;

    /// <summary>How many times a worker has taken the item: tells a finished run from a later one.</summary>
    public int Runs;

    public string? OwnerDriver;

    public string? RoutineName;
}

/// <summary>
/// IO_WORKITEM (IoAllocateWorkItem): a work item tied to a device object. While it is queued the I/O manager holds a
/// reference on the device object, so the driver's image stays loaded until the routine has run; the reference is
/// dropped after the routine returns.
/// </summary>
public sealed class IoWorkItem : KernelObject
{
    private static readonly ObjectType s_type = new("IoWorkItem", 0);

    internal IoWorkItem(DeviceObject deviceObject)
    {
        DeviceObject = deviceObject;
        Entry = new WorkQueueEntry(this) { OwnerDriver = deviceObject.DriverObject.Name };
    }

    /// <summary>The device object the item was allocated for (passed to the routine).</summary>
    public DeviceObject DeviceObject { get; }

    /// <summary>Whether the item is in a worker queue now.</summary>
    public bool IsQueued => Entry.State == WorkItemState.Queued;

    internal WorkQueueEntry Entry { get; }

    internal IoWorkItemRoutine? Routine;

    internal object? Context;

    internal override ObjectType Type => s_type;
}

/// <summary>
/// WORK_QUEUE_ITEM (ExInitializeWorkItem / ExQueueWorkItem): an executive work item. Unlike an IO_WORKITEM it holds
/// no reference on anything: a driver that unloads while one is queued or running is unloaded under it.
/// </summary>
public sealed class WorkQueueItem : KernelObject
{
    private static readonly ObjectType s_type = new("WorkQueueItem", 0);

    public WorkQueueItem()
    {
        Entry = new WorkQueueEntry(this);
    }

    public WorkerThreadRoutine? WorkerRoutine { get; internal set; }

    public object? Parameter { get; internal set; }

    /// <summary>Whether the item is in a worker queue now (WORK_QUEUE_ITEM.List.Flink != NULL).</summary>
    public bool IsQueued => Entry.State == WorkItemState.Queued;

    internal WorkQueueEntry Entry { get; }

    internal override ObjectType Type => s_type;
}
