using IrpLab.Scheduling;

namespace IrpLab;

/// <summary>IRPs: allocation, IoCallDriver, and the two stages of completion.</summary>
internal sealed partial class IoManager
{
    public const uint IRP_NOCACHE = 0x1;
    public const uint IRP_PAGING_IO = 0x2;
    public const uint IRP_SYNCHRONOUS_API = 0x4;
    public const uint IRP_ASSOCIATED_IRP = 0x8;
    public const uint IRP_BUFFERED_IO = 0x10;
    public const uint IRP_DEALLOCATE_BUFFER = 0x20;
    public const uint IRP_INPUT_OPERATION = 0x40;
    public const uint IRP_CREATE_OPERATION = 0x80;
    public const uint IRP_READ_OPERATION = 0x100;
    public const uint IRP_WRITE_OPERATION = 0x200;
    public const uint IRP_CLOSE_OPERATION = 0x400;
    public const uint IRP_DEFER_IO_COMPLETION = 0x800;

    public const byte SL_PENDING_RETURNED = 0x01;
    public const byte SL_ERROR_RETURNED = 0x02;
    public const byte SL_INVOKE_ON_CANCEL = 0x20;
    public const byte SL_INVOKE_ON_SUCCESS = 0x40;
    public const byte SL_INVOKE_ON_ERROR = 0x80;

    public const byte IRP_ALLOCATED_FIXED_SIZE = 0x4;

    private readonly Lock _poolLock = new();
    private readonly Dictionary<int, Stack<Irp>> _irpPool = [];
    private readonly Lock _threadListLock = new();

    public BufferPool Buffers { get; } = new();

    /// <summary>
    /// IoAllocateIrp's core: StackCount = stackSize, CurrentLocation = stackSize + 1 (no current location yet).
    /// With the verifier on, packets are never recycled, so a use after completion is always caught.
    /// </summary>
    public Irp AllocateIrp(int stackSize)
    {
        Irp? irp = null;
        bool pool = !_machine.VerifierEnabled;
        if (pool && KThread.CurrentOrNull is KThread t && t.CachedIrp is Irp cached && cached.Stack.Length == stackSize)
        {
            // The common case, a thread reusing the IRP it just freed, takes no lock.
            t.CachedIrp = null;
            irp = cached;
        }
        else if (pool)
        {
            lock (_poolLock)
            {
                if (_irpPool.TryGetValue(stackSize, out Stack<Irp>? stack) && stack.Count > 0)
                {
                    irp = stack.Pop();
                }
            }
        }

        irp ??= new Irp(_machine, stackSize);
        irp.Reset();
        irp.Pooled = pool;
        irp.AllocationFlags = IRP_ALLOCATED_FIXED_SIZE;
        irp.Holds = 1;
        if (_machine.VerifierEnabled)
        {
            irp.History = new IrpHistory();
            irp.History.Add(_machine, IrpHistoryKind.Allocated, null);
        }

        if (_machine.Trace.IsEnabled(TraceEventKind.IrpAllocated))
        {
            _machine.Trace.Record(TraceEventKind.IrpAllocated, irp + " allocated, " + stackSize + " stack location(s)");
        }

        return irp;
    }

    /// <summary>Adds a hold (the issuing service keeps the packet until it is done with it).</summary>
    public static void HoldIrp(Irp irp) => Interlocked.Increment(ref irp.Holds);

    /// <summary>Drops a hold; the last one frees the packet.</summary>
    public void ReleaseIrp(Irp irp)
    {
        if (Interlocked.Decrement(ref irp.Holds) != 0)
        {
            return;
        }

        irp.History?.Add(_machine, IrpHistoryKind.Freed, null);
        irp.State = IrpState.Freed;
        if (_machine.Trace.IsEnabled(TraceEventKind.IrpFreed))
        {
            _machine.Trace.Record(TraceEventKind.IrpFreed, irp + " freed");
        }

        if (irp.Pooled && KThread.CurrentOrNull is KThread t && t.CachedIrp is null)
        {
            t.CachedIrp = irp;
        }
        else if (irp.Pooled)
        {
            lock (_poolLock)
            {
                if (!_irpPool.TryGetValue(irp.Stack.Length, out Stack<Irp>? stack))
                {
                    stack = new Stack<Irp>();
                    _irpPool.Add(irp.Stack.Length, stack);
                }

                if (stack.Count < 256)
                {
                    stack.Push(irp);
                }
            }
        }
    }

    // ------------------------------------------------------------------ the thread's IRP list

    public void QueueThreadIrp(KThread thread, Irp irp)
    {
        lock (_threadListLock)
        {
            irp.Tail.Overlay.Thread = thread;
            irp.ThreadNext = thread.IrpListHead;
            irp.ThreadPrevious = null;
            if (thread.IrpListHead is not null)
            {
                thread.IrpListHead.ThreadPrevious = irp;
            }

            thread.IrpListHead = irp;
            irp.OnThreadList = true;
        }
    }

    public void DequeueThreadIrp(Irp irp)
    {
        lock (_threadListLock)
        {
            UnlinkThreadIrp(irp);
        }
    }

    /// <summary>Takes the IRP off its thread's list (the thread-list lock is held).</summary>
    private static void UnlinkThreadIrp(Irp irp)
    {
        if (!irp.OnThreadList)
        {
            return;
        }

        KThread? thread = irp.Tail.Overlay.Thread;
        if (irp.ThreadPrevious is not null)
        {
            irp.ThreadPrevious.ThreadNext = irp.ThreadNext;
        }
        else if (thread is not null && thread.IrpListHead == irp)
        {
            thread.IrpListHead = irp.ThreadNext;
        }

        if (irp.ThreadNext is not null)
        {
            irp.ThreadNext.ThreadPrevious = irp.ThreadPrevious;
        }

        irp.ThreadNext = null;
        irp.ThreadPrevious = null;
        irp.OnThreadList = false;
    }

    /// <summary>A snapshot of the thread's pending IRPs.</summary>
    public List<Irp> ThreadIrps(KThread thread)
    {
        var result = new List<Irp>();
        lock (_threadListLock)
        {
            for (Irp? irp = thread.IrpListHead; irp is not null; irp = irp.ThreadNext)
            {
                result.Add(irp);
            }
        }

        return result;
    }

    /// <summary>The requests in flight of every thread of <paramref name="process"/> (the verifier's in-flight checks).</summary>
    public void CollectProcessIrps(KProcess process, List<Irp> into)
    {
        foreach (KThread thread in process.AllThreads())
        {
            lock (_threadListLock)
            {
                for (Irp? irp = thread.IrpListHead; irp is not null; irp = irp.ThreadNext)
                {
                    into.Add(irp);
                }
            }
        }
    }

    // ------------------------------------------------------------------ IoCallDriver

    /// <summary>
    /// IoCallDriver: moves the IRP to the next stack location, records the device there, and calls the driver's
    /// dispatch routine for the location's major function; returns its status unchanged. No location left is
    /// bug check 0x35.
    /// </summary>
    public NtStatus CallDriver(DeviceObject device, Irp irp)
    {
        KThread t = KThread.Current;
        IoVerifier.BeforeCallDriver(_machine, t, device, irp);
        irp.CurrentLocation--;
        if (irp.CurrentLocation <= 0)
        {
            throw _machine.RaiseBugCheck(BugCheckCatalogue.NO_MORE_IRP_STACK_LOCATIONS, irp.DebugAddress(_machine), 0, 0, 0,
                $"IoCallDriver on {irp} with no stack location left: it was allocated with {irp.StackCount} location(s). Allocate IRPs with the target device's StackSize (the top of its stack).");
        }

        IoStackLocation location = irp.Stack[irp.CurrentLocation - 1];
        location.DeviceObject = device;
        DriverObject driver = device.DriverObject;
        byte major = location.MajorFunction;
        DriverDispatch routine = driver.MajorFunction[major] ?? s_invalidDeviceRequest;
        irp.State = IrpState.Dispatched;
        irp.History?.Add(_machine, IrpHistoryKind.Dispatched, routine);
        if (_machine.Trace.IsEnabled(TraceEventKind.IrpDispatched))
        {
            _machine.Trace.Record(TraceEventKind.IrpDispatched, irp + " " + MajorFunctionName(major) + " to " + driver.Name + "!" + routine.Method.Name);
        }

        _machine.Scheduler.Yield(t, SchedulingPointKind.IrpDispatch);
        int savedLocation = irp.CurrentLocation;
        byte irqlBefore = t.Irql;
        using var scope = new DriverCallScope(t, driver.Name, routine);
        try
        {
            NtStatus status = routine(device, irp);

            // Still attributed to the dispatch routine: a protocol violation found here is its driver's fault.
            IoVerifier.AfterDispatch(_machine, t, device, irp, savedLocation, irqlBefore, status, routine);
            return status;
        }
        catch (Exception ex) when (Machine.IsDriverFault(ex))
        {
            throw _machine.RaiseDriverException(t, ex);
        }
    }

    private static readonly DriverDispatch s_invalidDeviceRequest = IopInvalidDeviceRequest;

    /// <summary>The I/O manager's default dispatch routine: STATUS_INVALID_DEVICE_REQUEST.</summary>
    private static NtStatus IopInvalidDeviceRequest(DeviceObject deviceObject, Irp irp)
    {
        irp.IoStatus.Status = NtStatus.STATUS_INVALID_DEVICE_REQUEST;
        irp.IoStatus.Information = 0;
        irp.Machine.Io.CompleteRequest(irp);
        return NtStatus.STATUS_INVALID_DEVICE_REQUEST;
    }

    // ------------------------------------------------------------------ IoCompleteRequest

    /// <summary>
    /// IoCompleteRequest, stage 1 (nt-io-semantics §5.2): walks the stack upward calling completion routines by
    /// the invoke rule, propagating the pending bit where no routine runs, stopping at
    /// STATUS_MORE_PROCESSING_REQUIRED. Then, unless the issuing service will finish a deferred request itself,
    /// stage 2 runs at once on behalf of the requester. (Windows runs stage 2 as a special kernel APC in the
    /// requesting thread; running it in the completer's context is equivalent for every observable effect the
    /// model has — buffers, status block, events, APCs and packets — and cannot be delayed by a requester that
    /// never waits.)
    /// </summary>
    public void CompleteRequest(Irp irp)
    {
        KThread t = KThread.Current;

        // The scheduling point comes first. Between the test for a second completion and the walk that moves
        // CurrentLocation past the completer's location (what the test looks at) no other thread may run: otherwise
        // a cancel routine and a worker that both complete the IRP could both pass the test, and the double
        // completion would go unreported.
        _machine.Scheduler.Yield(t, SchedulingPointKind.IrpComplete);
        if (irp.CurrentLocation > irp.StackCount + 1 || irp.State == IrpState.Freed)
        {
            throw _machine.RaiseBugCheck(BugCheckCatalogue.MULTIPLE_IRP_COMPLETE_REQUESTS, irp.DebugAddress(_machine), 0, 0, 0,
                $"IoCompleteRequest on {irp}, which was already completed. Two paths (often a cancel routine and the normal completion path) both believed they owned it; only the one that gets a non-NULL routine back from IoSetCancelRoutine(Irp, NULL) may complete it." + IrpHistory.Describe(irp));
        }

        IoVerifier.BeforeComplete(_machine, t, irp);
        irp.State = IrpState.Completing;
        irp.History?.Add(_machine, IrpHistoryKind.Completed, null, irp.IoStatus.Status);
        if (_machine.Trace.IsEnabled(TraceEventKind.IrpCompleted))
        {
            _machine.Trace.Record(TraceEventKind.IrpCompleted, irp + " completed " + NtStatusClass.Format(irp.IoStatus.Status) + ", information " + irp.IoStatus.Information);
        }

        // The completer's own location is first; skip it, so the current location is the registrant's.
        int index = irp.CurrentLocation - 1;
        irp.CurrentLocation++;
        while (index < irp.StackCount)
        {
            IoStackLocation location = irp.Stack[index];
            IoVerifier.OnLocationCompleting(_machine, t, irp, index + 1);
            irp.PendingReturned = (location.Control & SL_PENDING_RETURNED) != 0;
            NtStatus status = irp.IoStatus.Status;
            bool invoke = location.CompletionRoutine is not null
                && ((NtStatusClass.IsSuccess(status) && (location.Control & SL_INVOKE_ON_SUCCESS) != 0)
                    || (!NtStatusClass.IsSuccess(status) && (location.Control & SL_INVOKE_ON_ERROR) != 0)
                    || (irp.Cancel && (location.Control & SL_INVOKE_ON_CANCEL) != 0));
            if (invoke)
            {
                IoCompletionRoutine routine = location.CompletionRoutine!;
                object? context = location.Context;
                DeviceObject? registrant = irp.CurrentLocation <= irp.StackCount ? irp.Stack[irp.CurrentLocation - 1].DeviceObject : null;
                location.Clear();
                NtStatus result = CallCompletionRoutine(t, irp, routine, registrant, context);
                if (result == NtStatus.STATUS_MORE_PROCESSING_REQUIRED)
                {
                    // The registrant owns the IRP again, positioned at its own location, unless its routine already
                    // freed it (the creator of an IoAllocateIrp / IoBuildAsynchronousFsdRequest packet): it stays freed.
                    if (irp.State != IrpState.Freed)
                    {
                        irp.State = IrpState.Dispatched;
                    }

                    return;
                }
            }
            else
            {
                if (irp.CurrentLocation <= irp.StackCount && irp.PendingReturned)
                {
                    irp.Stack[irp.CurrentLocation - 1].Control |= SL_PENDING_RETURNED;
                    irp.MarkedPendingLocations |= 1UL << (irp.CurrentLocation - 1);
                }

                location.Clear();
            }

            irp.CurrentLocation++;
            index++;
        }

        irp.State = IrpState.Completed;
        FinishStage1(irp);
    }

    private NtStatus CallCompletionRoutine(KThread t, Irp irp, IoCompletionRoutine routine, DeviceObject? registrant, object? context)
    {
        using var scope = new DriverCallScope(t, registrant?.DriverObject.Name ?? t.CurrentDriver, routine);
        byte irql = t.Irql;
        try
        {
            NtStatus result = routine(registrant, irp, context);
            IoVerifier.AfterCompletionRoutine(_machine, t, irp, routine, irql);
            return result;
        }
        catch (Exception ex) when (Machine.IsDriverFault(ex))
        {
            throw _machine.RaiseDriverException(t, ex);
        }
    }

    /// <summary>Stage 1's tail: internal packets finish inline, deferred requests are left to their issuer, the rest go to stage 2.</summary>
    private void FinishStage1(Irp irp)
    {
        if ((irp.Flags & IRP_CLOSE_OPERATION) != 0)
        {
            // Cleanup and close packets of the I/O manager: status block and event, no APC.
            if (irp.UserIosb is IoStatusBlock iosb)
            {
                iosb.Status = irp.IoStatus.Status;
                iosb.Information = irp.IoStatus.Information;
            }

            if (irp.UserEvent is KEvent ev)
            {
                SetEventInternal(ev);
            }

            ReleaseIrp(irp);
            return;
        }

        if ((irp.Flags & IRP_DEFER_IO_COMPLETION) != 0 && !irp.PendingReturned)
        {
            // The issuing service is still on the stack and will see a non-pending return: it runs stage 2.
            return;
        }

        if (irp.Disassociated)
        {
            // The requester exited and the IRP was disassociated: clean up silently, no notification.
            FreeRequestResources(irp);
            DereferenceOriginalFileObject(irp);
            ReleaseIrp(irp);
            return;
        }

        CompleteStage2(irp);
    }

    /// <summary>
    /// Stage 2 (§5.3): copy-back for buffered input operations unless the status is an error; then, when a
    /// notification is due (not an error, or an error of a pended request on an asynchronous handle), the status
    /// block, the event (or the file object), and the APC or completion packet; otherwise only what wakes a
    /// synchronous waiter.
    /// </summary>
    public void CompleteStage2(Irp irp)
    {
        NtStatus status = irp.IoStatus.Status;
        FileObject? fileObject = irp.Tail.Overlay.OriginalFileObject;
        bool isError = NtStatusClass.IsError(status);

        if ((irp.Flags & IRP_BUFFERED_IO) != 0 && (irp.Flags & IRP_INPUT_OPERATION) != 0
            && status != NtStatus.STATUS_VERIFY_REQUIRED && !isError)
        {
            CopyBack(irp);
        }

        FreeRequestResources(irp);

        bool synchronousApi = (irp.Flags & IRP_SYNCHRONOUS_API) != 0;
        bool synchronousFile = fileObject is not null && fileObject.IsSynchronous;
        bool notify = !isError || (irp.PendingReturned && !synchronousApi && !synchronousFile);
        bool isCreate = (irp.Flags & IRP_CREATE_OPERATION) != 0;

        if (notify)
        {
            if (irp.UserIosb is IoStatusBlock iosb)
            {
                iosb.Status = status;
                iosb.Information = irp.IoStatus.Information;
            }

            // The caller's event, or else the file object's (a synchronous file object's is set as well).
            KEvent? userEvent = irp.UserEvent;
            KEvent? fileEvent = null;
            if (userEvent is not null)
            {
                if (synchronousFile)
                {
                    fileObject!.FinalStatus = status;
                    fileEvent = fileObject.Event;
                }
            }
            else if (fileObject is not null)
            {
                fileObject.FinalStatus = status;
                if ((fileObject.Flags & FileObject.FO_SKIP_SET_EVENT) == 0 || synchronousFile)
                {
                    fileEvent = fileObject.Event;
                }
            }

            // Off the thread's list before anyone woken below can look for it there (CancelIoEx finds nothing).
            DequeueThreadIrp(irp);
            KThread? requester = irp.Tail.Overlay.Thread;
            bool queueApc = irp.Overlay.AsynchronousParameters.UserApcRoutine is not null && !isCreate;
            CompletionPort? port = !queueApc && fileObject?.CompletionPort is CompletionPort associated
                && irp.Overlay.AsynchronousParameters.UserApcContext is not null
                && !((fileObject.Flags & FileObject.FO_SKIP_COMPLETION_PORT) != 0 && !irp.PendingReturned && NtStatusClass.IsSuccess(status))
                ? associated
                : null;

            // The events and the packet under one acquisition of the dispatcher lock.
            if (userEvent is not null || fileEvent is not null || port is not null)
            {
                KernelDispatcher d = _machine.Dispatcher;
                lock (d.SyncRoot)
                {
                    userEvent?.Set(d);
                    fileEvent?.Set(d);
                    port?.Insert(d, new CompletionPacket(fileObject!.CompletionKey, irp.Overlay.AsynchronousParameters.UserApcContext, status, irp.IoStatus.Information));
                }
            }

            if (queueApc)
            {
                QueueCompletionApc(irp, requester);
            }
            else if (port is not null && _machine.Trace.IsEnabled(TraceEventKind.CompletionPacket))
            {
                _machine.Trace.Record(TraceEventKind.CompletionPacket, irp + " completion packet queued");
            }
        }
        else
        {
            if (irp.PendingReturned && (fileObject is not null || synchronousApi))
            {
                if (synchronousApi)
                {
                    // A threaded request whose issuer waits after STATUS_PENDING always wakes, with its status block written.
                    if (irp.UserIosb is IoStatusBlock iosb)
                    {
                        iosb.Status = status;
                        iosb.Information = irp.IoStatus.Information;
                    }

                    if ((irp.UserEvent ?? fileObject?.Event) is KEvent wake)
                    {
                        SetEventInternal(wake);
                    }
                }
                else
                {
                    fileObject!.FinalStatus = status;
                    SetEventInternal(fileObject.Event);
                }
            }

            DequeueThreadIrp(irp);
        }

        if (!isCreate)
        {
            DereferenceOriginalFileObject(irp);
        }

        ReleaseIrp(irp);
    }

    /// <summary>
    /// The native completion APC (ReadFileEx's routine): queued to the requesting thread, it calls
    /// ApcRoutine(ApcContext, IoStatusBlock, 0) when that thread next waits alertably. The queued APC is a value: a
    /// completion allocates nothing.
    /// </summary>
    private void QueueCompletionApc(Irp irp, KThread? requester)
    {
        IoApcRoutine apc = irp.Overlay.AsynchronousParameters.UserApcRoutine!;
        object? apcContext = irp.Overlay.AsynchronousParameters.UserApcContext;
        if (requester is not null)
        {
            IoStatusBlock block = irp.UserIosb ?? new IoStatusBlock { Status = irp.IoStatus.Status, Information = irp.IoStatus.Information };
            _machine.Apcs.QueueUserApc(requester, apc, apcContext, block);
        }
    }

    private void CopyBack(Irp irp)
    {
        byte[]? system = irp.AssociatedIrp.SystemBuffer;
        byte[]? target = irp.CallerOutput;
        if (system is null || target is null)
        {
            return;
        }

        ulong information = irp.IoStatus.Information;
        IoVerifier.OnCopyBack(_machine, irp, information);

        // Windows copies Information bytes without clamping (a driver that over-reports overruns the caller);
        // the model cannot write past the caller's array, so it copies what fits.
        int count = (int)Math.Min(information, (ulong)Math.Min(system.Length, irp.CallerOutputLength));
        Buffer.BlockCopy(system, 0, target, 0, count);
    }

    private void FreeRequestResources(Irp irp)
    {
        if ((irp.Flags & IRP_DEALLOCATE_BUFFER) != 0 && irp.AssociatedIrp.SystemBuffer is byte[] system)
        {
            irp.AssociatedIrp.SystemBuffer = null;
            Buffers.Return(system);
        }

        irp.MdlAddress = null;
    }

    private void DereferenceOriginalFileObject(Irp irp)
    {
        if (irp.Tail.Overlay.OriginalFileObject is FileObject fo)
        {
            irp.Tail.Overlay.OriginalFileObject = null;
            _machine.Objects.Dereference(fo);
        }
    }

    private void SetEventInternal(KEvent ev)
    {
        KernelDispatcher d = _machine.Dispatcher;
        lock (d.SyncRoot)
        {
            ev.Set(d);
        }
    }

    internal static string MajorFunctionName(byte major) => major switch
    {
        0x00 => "IRP_MJ_CREATE",
        0x02 => "IRP_MJ_CLOSE",
        0x03 => "IRP_MJ_READ",
        0x04 => "IRP_MJ_WRITE",
        0x0E => "IRP_MJ_DEVICE_CONTROL",
        0x0F => "IRP_MJ_INTERNAL_DEVICE_CONTROL",
        0x12 => "IRP_MJ_CLEANUP",
        _ => "IRP_MJ_0x" + major.ToString("X2", System.Globalization.CultureInfo.InvariantCulture),
    };
}
