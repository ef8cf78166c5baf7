namespace IrpLab;

/// <summary>KDEFERRED_ROUTINE: a DPC routine. Runs at DISPATCH_LEVEL in an arbitrary thread context.</summary>
public delegate void KDeferredRoutine(KDpc Dpc, object? DeferredContext, object? SystemArgument1, object? SystemArgument2);

/// <summary>KDPC_IMPORTANCE: where KeInsertQueueDpc puts the DPC in its processor's queue.</summary>
public enum KDpcImportance : byte
{
    LowImportance = 0,
    MediumImportance = 1,
    HighImportance = 2,
    MediumHighImportance = 3,
}

/// <summary>
/// KDPC: a deferred procedure call. A DPC object is in at most one processor's DPC queue at a time: while it is
/// queued (<see cref="IsQueued"/>), KeInsertQueueDpc returns FALSE and keeps the first call's arguments. It leaves
/// the queue just before its routine runs, so the routine may queue it again. The queue fields are guarded by the
/// dispatcher lock.
/// </summary>
public sealed class KDpc : KernelObject
{
    /// <summary>The routine KeInitializeDpc recorded.</summary>
    public KDeferredRoutine? DeferredRoutine { get; internal set; }

    public object? DeferredContext { get; internal set; }

    /// <summary>The arguments of the KeInsertQueueDpc call that queued the DPC (kept until the next successful insert).</summary>
    public object? SystemArgument1 { get; internal set; }

    public object? SystemArgument2 { get; internal set; }

    public KDpcImportance Importance { get; internal set; } = KDpcImportance.MediumImportance;

    /// <summary>The target processor set by KeSetTargetProcessorDpc; 0 and no target until then.</summary>
    public int Number { get; internal set; }

    /// <summary>Whether the DPC is in a processor's DPC queue now (KDPC.DpcData != NULL).</summary>
    public bool IsQueued => Volatile.Read(ref Queue) is not null;

    /// <summary>KeSetTargetProcessorDpc was called: the DPC goes to processor <see cref="Number"/>'s queue.</summary>
    internal bool HasTarget;

    /// <summary>The queue the DPC is in (DpcData), or null. Dispatcher lock.</summary>
    internal DpcQueue? Queue;

    internal KDpc? Next;

    internal KDpc? Previous;

    /// <summary>The driver whose code the routine is, for attribution and unload checks.</summary>
    internal string? OwnerDriver;

    /// <summary>The routine's name for crash attribution (computed once at initialization).</summary>
    internal string? RoutineName;

    /// <summary>The timer whose expiry queued the DPC (for the trace only).</summary>
    internal KTimer? QueuedByTimer;

    /// <summary>A DPC the machine itself queued (KeFlushQueuedDpcs' markers): no attribution, no checks.</summary>
    internal bool IsInternal;

    internal override ObjectType Type => ObjectType.Dpc;

    public override string ToString() => "DPC " + (RoutineName ?? "(uninitialized)");
}
