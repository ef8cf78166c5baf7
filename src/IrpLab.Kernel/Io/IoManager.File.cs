namespace IrpLab;

/// <summary>Opening devices (IRP_MJ_CREATE), and the last handle (IRP_MJ_CLEANUP) and last reference (IRP_MJ_CLOSE) of a file object.</summary>
internal sealed partial class IoManager
{
    public const byte IRP_MJ_CREATE = 0x00;
    public const byte IRP_MJ_CLOSE = 0x02;
    public const byte IRP_MJ_READ = 0x03;
    public const byte IRP_MJ_WRITE = 0x04;
    public const byte IRP_MJ_DEVICE_CONTROL = 0x0E;
    public const byte IRP_MJ_INTERNAL_DEVICE_CONTROL = 0x0F;
    public const byte IRP_MJ_CLEANUP = 0x12;

    public const uint FILE_SYNCHRONOUS_IO_ALERT = 0x10;
    public const uint FILE_SYNCHRONOUS_IO_NONALERT = 0x20;
    public const uint FILE_NO_INTERMEDIATE_BUFFERING = 0x8;
    public const uint FILE_WRITE_THROUGH = 0x2;
    public const uint SYNCHRONIZE = 0x00100000;

    /// <summary>The top of the device stack <paramref name="device"/> belongs to (IoGetAttachedDevice).</summary>
    public static DeviceObject AttachedTop(DeviceObject device)
    {
        DeviceObject top = device;
        while (top.AttachedDevice is DeviceObject above)
        {
            top = above;
        }

        return top;
    }

    /// <summary>
    /// NtCreateFile's core (§1.3, §1.4): resolves the name, checks the device, builds the file object, sends
    /// IRP_MJ_CREATE to the top of the stack and waits if the driver pends it. On failure the file object goes away
    /// without IRP_MJ_CLEANUP or IRP_MJ_CLOSE.
    /// </summary>
    public NtStatus OpenFile(KThread t, string path, uint desiredAccess, uint shareAccess, uint disposition, uint options, uint attributes, out FileObject? fileObject, out nuint information)
    {
        fileObject = null;
        information = 0;
        bool syncAlert = (options & FILE_SYNCHRONOUS_IO_ALERT) != 0;
        bool syncNonAlert = (options & FILE_SYNCHRONOUS_IO_NONALERT) != 0;
        if ((syncAlert || syncNonAlert) && (desiredAccess & SYNCHRONIZE) == 0 || syncAlert && syncNonAlert)
        {
            return NtStatus.STATUS_INVALID_PARAMETER;
        }

        NtStatus status = _machine.Objects.Lookup(path, out KernelObject? obj, out string remaining);
        if (status != NtStatus.STATUS_SUCCESS)
        {
            return status;
        }

        if (obj is not DeviceObject device)
        {
            return NtStatus.STATUS_OBJECT_TYPE_MISMATCH;
        }

        lock (_drivers)
        {
            if ((device.Flags & DO_DEVICE_INITIALIZING) != 0 || device.DeletePending || device.Deleted || device.DriverObject.Unloaded)
            {
                return NtStatus.STATUS_NO_SUCH_DEVICE;
            }

            if ((device.Flags & DO_EXCLUSIVE) != 0 && device.ReferenceCount != 0)
            {
                return NtStatus.STATUS_ACCESS_DENIED;
            }

            device.ReferenceCount++;
        }

        var fo = new FileObject(_machine, device, remaining) { GrantedAccess = desiredAccess };
        if (syncAlert || syncNonAlert)
        {
            fo.Flags |= FileObject.FO_SYNCHRONOUS_IO;
        }

        if (syncAlert)
        {
            fo.Flags |= FileObject.FO_ALERTABLE_IO;
        }

        if ((options & FILE_NO_INTERMEDIATE_BUFFERING) != 0)
        {
            fo.Flags |= FileObject.FO_NO_INTERMEDIATE_BUFFERING;
        }

        if ((options & FILE_WRITE_THROUGH) != 0)
        {
            fo.Flags |= FileObject.FO_WRITE_THROUGH;
        }

        fo.PointerCount = 1;
        DeviceObject top = AttachedTop(device);
        Irp irp = AllocateIrp(top.StackSize);
        irp.IsInternal = true;
        irp.Flags = IRP_CREATE_OPERATION | IRP_SYNCHRONOUS_API | IRP_DEFER_IO_COMPLETION;
        irp.RequestorMode = t.PreviousMode;
        var iosb = new IoStatusBlock();
        irp.UserIosb = iosb;
        irp.Tail.Overlay.OriginalFileObject = fo;
        IoStackLocation next = irp.NextStackLocation!;
        next.MajorFunction = IRP_MJ_CREATE;
        next.FileObject = fo;
        next.Parameters.Create.DesiredAccess = desiredAccess;
        next.Parameters.Create.Options = (disposition << 24) | (options & 0x00FFFFFF);
        next.Parameters.Create.FileAttributes = attributes;
        next.Parameters.Create.ShareAccess = shareAccess;
        HoldIrp(irp);
        QueueThreadIrp(t, irp);
        status = CallDriver(top, irp);
        if (status == NtStatus.STATUS_PENDING)
        {
            // Create is synchronous from the caller's view: wait (KernelMode, non-alertable) on the file object.
            _machine.Dispatcher.Wait(t, [fo.Event], WaitType.WaitAny, KProcessorMode.KernelMode, false, null);
            status = iosb.Status;
        }
        else if (irp.State == IrpState.Completed && !irp.PendingReturned)
        {
            CompleteStage2(irp);
        }

        ReleaseIrp(irp);
        information = iosb.Information;
        if (!NtStatusClass.IsSuccess(status))
        {
            fo.CreateFailed = true;
            _machine.Objects.Dereference(fo);
            return status;
        }

        fo.Flags |= FileObject.FO_FILE_OPEN;
        fileObject = fo;
        return status;
    }

    /// <summary>
    /// IRP_MJ_CLEANUP (§8.1): the last handle of the file object was closed. Sent synchronously in the closer's
    /// context to the top of the stack, after taking the file object's lock if it is synchronous; its status is ignored.
    /// </summary>
    public void SendCleanup(FileObject fo)
    {
        if (fo.CreateFailed)
        {
            return;
        }

        KThread t = KThread.Current;
        bool locked = false;
        if (fo.IsSynchronous)
        {
            AcquireFileObjectLock(t, fo, KProcessorMode.KernelMode, alertable: false);
            locked = true;
        }

        try
        {
            SendFileControlIrp(t, fo, IRP_MJ_CLEANUP);
        }
        finally
        {
            fo.Flags |= FileObject.FO_CLEANUP_COMPLETE;
            if (locked)
            {
                ReleaseFileObjectLock(fo);
            }
        }

        IoVerifier.AfterCleanup(_machine, fo);
    }

    /// <summary>
    /// Takes the lock of a synchronous file object (IopLockFileObject): only one request at a time proceeds. The
    /// wait is alertable iff the file object is (FO_ALERTABLE_IO); an interrupted wait returns STATUS_USER_APC or
    /// STATUS_ALERTED without the lock.
    /// </summary>
    public NtStatus AcquireFileObjectLock(KThread t, FileObject fo, KProcessorMode mode, bool alertable)
    {
        if (Interlocked.CompareExchange(ref fo.LockBusy, 1, 0) == 0)
        {
            return NtStatus.STATUS_SUCCESS;
        }

        Interlocked.Increment(ref fo.LockWaiters);
        try
        {
            while (Interlocked.CompareExchange(ref fo.LockBusy, 1, 0) != 0)
            {
                NtStatus status = _machine.Dispatcher.Wait(t, [fo.LockEvent], WaitType.WaitAny, mode, alertable, null);
                if (status is NtStatus.STATUS_USER_APC or NtStatus.STATUS_ALERTED)
                {
                    return status;
                }
            }

            return NtStatus.STATUS_SUCCESS;
        }
        finally
        {
            Interlocked.Decrement(ref fo.LockWaiters);
        }
    }

    public void ReleaseFileObjectLock(FileObject fo)
    {
        Interlocked.Exchange(ref fo.LockBusy, 0);
        if (Volatile.Read(ref fo.LockWaiters) > 0)
        {
            SetEventInternal(fo.LockEvent);
        }
    }

    /// <summary>
    /// The file object's last reference is gone (§8.2): IRP_MJ_CLOSE to the top of the stack (not after a failed
    /// create), the port association dropped, and the device's reference count decremented.
    /// </summary>
    public void OnFileObjectDeleted(FileObject fo)
    {
        if (KThread.CurrentOrNull is { Irql: > IrqlLevel.Passive } && !_machine.IsHalted)
        {
            // The last reference went away above PASSIVE_LEVEL (a completion at DISPATCH_LEVEL): the object manager
            // does not delete objects there but hands the deletion to a worker thread (ObpDeferObjectDeletion), so
            // IRP_MJ_CLOSE still arrives at PASSIVE_LEVEL.
            _machine.CreateThread(_machine.SystemProcess, "ObpDeferredDelete", () => DeleteFileObject(fo), isService: false);
            return;
        }

        DeleteFileObject(fo);
    }

    private void DeleteFileObject(FileObject fo)
    {
        if (!fo.CreateFailed && KThread.CurrentOrNull is KThread t && !_machine.IsHalted)
        {
            SendFileControlIrp(t, fo, IRP_MJ_CLOSE);
        }

        if (fo.CompletionPort is CompletionPort port)
        {
            fo.CompletionPort = null;
            _machine.Objects.Dereference(port);
        }

        lock (_drivers)
        {
            DeviceObject device = fo.DeviceObject;
            device.ReferenceCount--;
            if (device.ReferenceCount == 0 && device.DeletePending)
            {
                device.Deleted = true;
            }
        }
    }

    private void SendFileControlIrp(KThread t, FileObject fo, byte major)
    {
        DeviceObject top = AttachedTop(fo.DeviceObject);
        Irp irp = AllocateIrp(top.StackSize);
        irp.IsInternal = true;
        irp.Flags = IRP_CLOSE_OPERATION | IRP_SYNCHRONOUS_API;
        irp.RequestorMode = KProcessorMode.KernelMode;
        var done = new KEvent(EventType.NotificationEvent, false);
        irp.UserEvent = done;
        irp.UserIosb = new IoStatusBlock();
        irp.Tail.Overlay.OriginalFileObject = fo;
        IoStackLocation next = irp.NextStackLocation!;
        next.MajorFunction = major;
        next.FileObject = fo;
        KProcessorMode savedMode = t.PreviousMode;
        t.PreviousMode = KProcessorMode.KernelMode;
        try
        {
            NtStatus status = CallDriver(top, irp);
            if (status == NtStatus.STATUS_PENDING)
            {
                _machine.Dispatcher.Wait(t, [done], WaitType.WaitAny, KProcessorMode.KernelMode, false, null);
            }
        }
        finally
        {
            t.PreviousMode = savedMode;
        }
    }
}
