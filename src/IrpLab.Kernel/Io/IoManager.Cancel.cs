using System.Buffers;
using IrpLab.Scheduling;

namespace IrpLab;

/// <summary>Cancellation: the global cancel spin lock, IoSetCancelRoutine and IoCancelIrp (§7.1-7.4).</summary>
internal sealed partial class IoManager
{
    /// <summary>The system-wide cancel spin lock.</summary>
    public KSpinLock CancelSpinLock { get; } = new();

    /// <summary>IoSetCancelRoutine: an atomic exchange; returns the previous routine.</summary>
    public DriverCancel? SetCancelRoutine(Irp irp, DriverCancel? routine)
    {
        DriverCancel? previous = Interlocked.Exchange(ref irp.CancelRoutineField, routine);
        if (irp.History is IrpHistory history)
        {
            history.Add(_machine, routine is null ? IrpHistoryKind.CancelRoutineCleared : IrpHistoryKind.CancelRoutineSet, routine ?? (Delegate?)previous);
        }

        if (routine is not null && _machine.Trace.IsEnabled(TraceEventKind.CancelRoutineSet))
        {
            _machine.Trace.Record(TraceEventKind.CancelRoutineSet, irp + " cancel routine " + routine.Method.Name);
        }

        return previous;
    }

    /// <summary>
    /// IoCancelIrp: under the cancel spin lock, sets Irp->Cancel and takes the cancel routine. If there was one it is
    /// called with the lock still held, CancelIrql set, and CancelRoutine already NULL; it must release the lock.
    /// Returns TRUE if a routine was called. A routine found on a completed IRP is bug check 0x48.
    /// </summary>
    public bool CancelIrp(Irp irp)
    {
        KThread t = KThread.Current;
        KernelChecks.RequireIrql(t, IrqlLevel.Dispatch, "IoCancelIrp");
        KernelChecks.AcquireSpinLock(t, CancelSpinLock, out byte oldIrql);
        irp.Cancel = true;
        DriverCancel? routine = Interlocked.Exchange(ref irp.CancelRoutineField, null);
        irp.History?.Add(_machine, IrpHistoryKind.Cancelled, routine);
        if (_machine.Trace.IsEnabled(TraceEventKind.IrpCancelled))
        {
            _machine.Trace.Record(TraceEventKind.IrpCancelled, irp + " cancelled" + (routine is null ? " (no cancel routine)" : ", calling " + routine.Method.Name));
        }

        if (routine is null)
        {
            KernelChecks.ReleaseSpinLock(t, CancelSpinLock, oldIrql, fromDpcLevelApi: false);
            return false;
        }

        if (irp.State is IrpState.Completed or IrpState.Freed)
        {
            throw _machine.RaiseBugCheck(BugCheckCatalogue.CANCEL_STATE_IN_COMPLETED_IRP, irp.DebugAddress(_machine), Machine.StableCodeAddress(routine.Method.Name), 0, 0,
                $"IoCancelIrp found cancel routine {routine.Method.Name} on {irp}, which was already completed: clear the cancel routine before completing an IRP." + IrpHistory.Describe(irp));
        }

        irp.CancelIrql = oldIrql;
        DeviceObject device = irp.CurrentStackLocation?.DeviceObject ?? throw new InvalidOperationException("A cancelable IRP has a current stack location.");
        _machine.Scheduler.Yield(t, SchedulingPointKind.CancelRoutine);
        CallCancelRoutine(t, device, irp, routine);
        return true;
    }

    /// <summary>
    /// NtCancelIoFile's core: IoCancelIrp on each IRP of <paramref name="thread"/>'s list issued on this file object
    /// (only the one whose status block is <paramref name="only"/>, when given). Returns how many were found. (Whether
    /// Windows then waits for them is UNCONFIRMED; like CancelIoEx, we do not: the cancelled requests complete through
    /// the normal path with STATUS_CANCELLED.)
    /// </summary>
    public int CancelThreadFileIo(KThread thread, FileObject fo, IoStatusBlock? only)
        => CancelThreadIrps(thread, CancelScope.FileObject, fo, only);

    /// <summary>
    /// IoCancelIrp on the IRPs of <paramref name="thread"/>'s list that <paramref name="scope"/> selects; returns how
    /// many were found. Windows keeps a listed IRP from being completed and freed while it cancels it (stage 2 is an
    /// APC to the requesting thread, held off at APC_LEVEL); here stage 2 runs in the completer's context, so each
    /// selected IRP is held while it is cancelled: a request that completes meanwhile is not freed and reused for
    /// another request, which would then be cancelled in its place.
    /// </summary>
    public int CancelThreadIrps(KThread thread, CancelScope scope, FileObject? fo, IoStatusBlock? only)
    {
        Irp[] selected = ArrayPool<Irp>.Shared.Rent(8);
        int count = 0;
        lock (_threadListLock)
        {
            for (Irp? irp = thread.IrpListHead; irp is not null; irp = irp.ThreadNext)
            {
                if (!Selects(irp, scope, fo, only))
                {
                    continue;
                }

                if (count == selected.Length)
                {
                    Irp[] larger = ArrayPool<Irp>.Shared.Rent(count * 2);
                    Array.Copy(selected, larger, count);
                    Array.Clear(selected, 0, count);
                    ArrayPool<Irp>.Shared.Return(selected);
                    selected = larger;
                }

                HoldIrp(irp);
                selected[count++] = irp;
            }
        }

        try
        {
            for (int i = 0; i < count; i++)
            {
                CancelIrp(selected[i]);
                ReleaseIrp(selected[i]);
                selected[i] = null!;
            }
        }
        finally
        {
            Array.Clear(selected, 0, count);
            ArrayPool<Irp>.Shared.Return(selected);
        }

        return count;
    }

    private static bool Selects(Irp irp, CancelScope scope, FileObject? fo, IoStatusBlock? only) => scope switch
    {
        CancelScope.FileObject => irp.Tail.Overlay.OriginalFileObject == fo && (only is null || ReferenceEquals(irp.UserIosb, only)),

        // Requests on files associated with a completion port are not tied to the thread (Vista+).
        CancelScope.ThreadExit => irp.Tail.Overlay.OriginalFileObject?.CompletionPort is null,

        // UNCONFIRMED beyond MS Learn which requests CancelSynchronousIo takes: those on a synchronous file object, and creates.
        CancelScope.Synchronous => ((irp.Flags & IRP_CREATE_OPERATION) != 0 || irp.Tail.Overlay.OriginalFileObject is { IsSynchronous: true })
            && (only is null || ReferenceEquals(irp.UserIosb, only)),
        _ => false,
    };

    /// <summary>
    /// The I/O a thread leaves behind when it exits (§7.7): every IRP on its list is cancelled, then the thread waits
    /// for them, polling every 100 ms for at most five minutes (virtual time in deterministic mode). What is still
    /// outstanding is then disassociated — it will complete silently — and an IO_DRIVER_CANCEL_TIMEOUT entry is
    /// logged. Requests on files associated with a completion port are not tied to the thread (Vista+) and are left alone.
    /// </summary>
    public void CancelThreadIo(KThread thread)
    {
        if (thread.IrpListHead is null)
        {
            return;
        }

        CancelThreadIrps(thread, CancelScope.ThreadExit, null, null);

        const long poll = -100 * MachineClock.TicksPerMillisecond;
        for (int i = 0; i < 3000 && HasThreadBoundIrps(thread); i++)
        {
            _machine.Dispatcher.Wait(thread, [], WaitType.WaitAny, KProcessorMode.KernelMode, false, poll);
        }

        // Disassociated under the list lock: an IRP still on the list has not been through stage 2 and cannot have
        // been freed, so the mark cannot land on a packet already serving another request.
        List<Irp>? disassociated = null;
        lock (_threadListLock)
        {
            Irp? irp = thread.IrpListHead;
            while (irp is not null)
            {
                Irp? next = irp.ThreadNext;
                if (Selects(irp, CancelScope.ThreadExit, null, null))
                {
                    UnlinkThreadIrp(irp);
                    irp.Tail.Overlay.Thread = null;
                    irp.Disassociated = true;
                    (disassociated ??= []).Add(irp);
                }

                irp = next;
            }
        }

        if (disassociated is null)
        {
            return;
        }

        foreach (Irp irp in disassociated)
        {
            string driver = irp.CurrentStackLocation?.DeviceObject?.DriverObject.Name ?? "a driver";
            _machine.Trace.Record(TraceEventKind.VerifierWarning,
                $"IO_DRIVER_CANCEL_TIMEOUT: {driver} did not complete cancelled {irp} of exiting {thread} within five minutes; the IRP was disassociated and will complete silently.");
        }
    }

    private bool HasThreadBoundIrps(KThread thread)
    {
        lock (_threadListLock)
        {
            for (Irp? irp = thread.IrpListHead; irp is not null; irp = irp.ThreadNext)
            {
                if (Selects(irp, CancelScope.ThreadExit, null, null))
                {
                    return true;
                }
            }
        }

        return false;
    }
}

/// <summary>Which requests of a thread's IRP list a cancel takes.</summary>
internal enum CancelScope
{
    Invalid = 0,

    /// <summary>CancelIo / CancelIoEx: those issued on one file object (optionally one status block).</summary>
    FileObject = 1,

    /// <summary>The thread exits: all but those on files associated with a completion port.</summary>
    ThreadExit = 2,

    /// <summary>CancelSynchronousIo: synchronous requests (optionally one status block).</summary>
    Synchronous = 3,
}
