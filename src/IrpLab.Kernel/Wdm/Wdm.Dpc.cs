using IrpLab.Scheduling;

namespace IrpLab;

public static partial class Wdm
{
    public const KDpcImportance LowImportance = KDpcImportance.LowImportance;
    public const KDpcImportance MediumImportance = KDpcImportance.MediumImportance;
    public const KDpcImportance HighImportance = KDpcImportance.HighImportance;
    public const KDpcImportance MediumHighImportance = KDpcImportance.MediumHighImportance;

    /// <summary>
    /// KeInitializeDpc: records the routine and its context; the DPC is not queued, Medium importance, no target
    /// processor. Any IRQL. Re-initializing a DPC that is still queued is TIMER_OR_DPC_INVALID (0xC7 / 0x1).
    /// </summary>
    public static void KeInitializeDpc(KDpc Dpc, KDeferredRoutine DeferredRoutine, object? DeferredContext)
    {
        ArgumentNullException.ThrowIfNull(Dpc);
        ArgumentNullException.ThrowIfNull(DeferredRoutine);
        InitializeDpc(KThread.Current, Dpc, DeferredRoutine, DeferredContext, DeferredRoutine.Method.Name);
    }

    /// <summary>
    /// KeInsertQueueDpc: queues the DPC with these arguments and returns TRUE; if it is already queued, returns FALSE
    /// and the arguments are dropped (the first call's are kept). Any IRQL. The DPC runs at DISPATCH_LEVEL on the
    /// target processor's DPC thread (the current processor's by default); HighImportance puts it at the head.
    /// </summary>
    public static bool KeInsertQueueDpc(KDpc Dpc, object? SystemArgument1, object? SystemArgument2)
    {
        ArgumentNullException.ThrowIfNull(Dpc);
        KThread t = KThread.Current;
        Machine m = t.Machine;
        if (Dpc.HasTarget && Dpc.Number >= m.Dpcs.ProcessorCount)
        {
            throw m.RaiseBugCheck(BugCheckCatalogue.TIMER_OR_DPC_INVALID, 0x3, Dpc.DebugAddress(m), (ulong)Dpc.Number, (ulong)m.Dpcs.ProcessorCount,
                $"KeInsertQueueDpc: DPC {Dpc.RoutineName} targets processor {Dpc.Number} (KeSetTargetProcessorDpc) but the machine has {m.Dpcs.ProcessorCount}.");
        }

        if (Dpc.OwnerDriver is null && !Dpc.IsInternal)
        {
            Dpc.OwnerDriver = t.CurrentDriver;
        }

        bool inserted = m.Dpcs.Insert(Dpc, SystemArgument1, SystemArgument2, t.Processor);
        if (m.Trace.IsEnabled(TraceEventKind.DpcQueued))
        {
            m.Trace.Record(TraceEventKind.DpcQueued, inserted
                ? "DPC " + Dpc.RoutineName + " queued"
                : "DPC " + Dpc.RoutineName + " already queued: KeInsertQueueDpc returns FALSE");
        }

        m.Scheduler.Yield(t, SchedulingPointKind.DpcQueued);
        return inserted;
    }

    /// <summary>KeRemoveQueueDpc: TRUE when the DPC was queued and has been removed before it ran; FALSE otherwise (it may be running). Any IRQL.</summary>
    public static bool KeRemoveQueueDpc(KDpc Dpc)
    {
        ArgumentNullException.ThrowIfNull(Dpc);
        return KThread.Current.Machine.Dpcs.Remove(Dpc);
    }

    /// <summary>KeSetImportanceDpc: HighImportance DPCs go to the head of their queue, the others to the tail.</summary>
    public static void KeSetImportanceDpc(KDpc Dpc, KDpcImportance Importance)
    {
        ArgumentNullException.ThrowIfNull(Dpc);
        Dpc.Importance = Importance;
    }

    /// <summary>
    /// KeSetTargetProcessorDpc: the DPC will be queued to (and run on) processor Number. A number the machine does not
    /// have is TIMER_OR_DPC_INVALID (0xC7 / 0x3) when the DPC is queued.
    /// </summary>
    public static void KeSetTargetProcessorDpc(KDpc Dpc, byte Number)
    {
        ArgumentNullException.ThrowIfNull(Dpc);
        Dpc.Number = Number;
        Dpc.HasTarget = true;
    }

    /// <summary>
    /// KeFlushQueuedDpcs: returns after every DPC queued on any processor at the time of the call has run (a DPC
    /// running at the call has finished too). PASSIVE_LEVEL. Use it in Unload after cancelling timers and removing
    /// DPCs, before freeing what the DPC routines touch.
    /// </summary>
    public static void KeFlushQueuedDpcs()
    {
        KThread t = KThread.Current;
        KernelChecks.RequireIrql(t, IrqlLevel.Passive, "KeFlushQueuedDpcs");
        t.Machine.Scheduler.Yield(t, SchedulingPointKind.Wait);
        t.Machine.Dpcs.Flush(t);
    }

    private static void InitializeDpc(KThread t, KDpc dpc, KDeferredRoutine routine, object? context, string routineName)
    {
        Machine m = t.Machine;
        if (dpc.IsQueued)
        {
            throw m.RaiseBugCheck(BugCheckCatalogue.TIMER_OR_DPC_INVALID, 0x1, dpc.DebugAddress(m), 0, 0,
                $"KeInitializeDpc on DPC {dpc.RoutineName}, which is still queued: its queue entry would be overwritten. "
                + "Remove it with KeRemoveQueueDpc (or let it run) before initializing it again.");
        }

        dpc.DeferredRoutine = routine;
        dpc.DeferredContext = context;
        dpc.RoutineName = routineName;
        dpc.Importance = KDpcImportance.MediumImportance;
        dpc.Number = 0;
        dpc.HasTarget = false;
        dpc.OwnerDriver = t.CurrentDriver;
    }
}
