namespace IrpLab;

/// <summary>What a read, write or device-control system service asks of the I/O manager.</summary>
internal struct IoRequest
{
    public byte Major;
    public Handle File;
    public Handle Event;
    public IoApcRoutine? ApcRoutine;
    public object? ApcContext;
    public IoStatusBlock IoStatusBlock;
    public uint IoControlCode;
    public byte[]? InputBuffer;
    public uint InputLength;
    public byte[]? OutputBuffer;
    public uint OutputLength;
    public long? ByteOffset;
    public uint Key;
}

/// <summary>Issuing read, write and device-control requests (NtReadFile, NtWriteFile, NtDeviceIoControlFile).</summary>
internal sealed partial class IoManager
{
    public const uint METHOD_BUFFERED = 0;
    public const uint METHOD_IN_DIRECT = 1;
    public const uint METHOD_OUT_DIRECT = 2;
    public const uint METHOD_NEITHER = 3;

    public const uint FILE_READ_DATA = 0x1;
    public const uint FILE_WRITE_DATA = 0x2;
    public const uint FILE_APPEND_DATA = 0x4;

    public const long FILE_USE_FILE_POINTER_POSITION = unchecked((long)0xFFFF_FFFF_FFFF_FFFE);
    public const long FILE_WRITE_TO_END_OF_FILE = -1;

    private const uint EVENT_MODIFY_STATE = 0x0002;

    /// <summary>
    /// The common path of the read, write and device-control services (§1.5, §1.6, §4, Appendix A items 2-3):
    /// validate, serialise a synchronous file object, clear the events, build and send the IRP, and for a
    /// synchronous file object wait for a pended request. Returns what the native service returns.
    /// </summary>
    public NtStatus Issue(KThread t, ref IoRequest request)
    {
        KProcessorMode mode = t.PreviousMode;
        NtStatus status = _machine.Objects.ReferenceByHandle(request.File, 0, ObjectType.File, mode, out KernelObject? obj, out uint granted);
        if (status != NtStatus.STATUS_SUCCESS)
        {
            return status;
        }

        var fo = (FileObject)obj!;
        KEvent? userEvent = null;
        bool ownsFileReference = true;
        try
        {
            status = Validate(t, fo, granted, ref request);
            if (status != NtStatus.STATUS_SUCCESS)
            {
                return status;
            }

            if (!request.Event.IsNull)
            {
                status = _machine.Objects.ReferenceByHandle(request.Event, EVENT_MODIFY_STATE, ObjectType.Event, mode, out KernelObject? ev, out _);
                if (status != NtStatus.STATUS_SUCCESS)
                {
                    return status;
                }

                userEvent = (KEvent)ev!;
            }

            if (mode == KProcessorMode.UserMode && _machine.VerifierEnabled)
            {
                ApplicationVerifier.BeforeIssue(t, userEvent, ref request);
            }

            bool synchronous = fo.IsSynchronous;
            if (synchronous)
            {
                bool alertable = (fo.Flags & FileObject.FO_ALERTABLE_IO) != 0;
                NtStatus lockStatus = AcquireFileObjectLock(t, fo, mode, alertable);
                if (lockStatus is NtStatus.STATUS_USER_APC or NtStatus.STATUS_ALERTED)
                {
                    return lockStatus;
                }
            }

            try
            {
                if (synchronous && request.ByteOffset is null or FILE_USE_FILE_POINTER_POSITION && request.Major is IRP_MJ_READ or IRP_MJ_WRITE)
                {
                    // UNCONFIRMED who advances CurrentByteOffset for a device driver; as for file systems, the driver does.
                    request.ByteOffset = fo.CurrentByteOffset.QuadPart;
                }

                // Every request clears the file object's event and the caller's event, even if already signaled.
                Volatile.Write(ref fo.Event.SignalState, 0);
                if (userEvent is not null)
                {
                    Volatile.Write(ref userEvent.SignalState, 0);
                }

                DeviceObject top = AttachedTop(fo.DeviceObject);
                Irp irp = BuildRequestIrp(t, top, fo, userEvent, ref request);
                ownsFileReference = false;
                HoldIrp(irp);
                QueueThreadIrp(t, irp);
                status = CallDriver(top, irp);

                if ((irp.Flags & IRP_DEFER_IO_COMPLETION) != 0 && status != NtStatus.STATUS_PENDING
                    && irp.State == IrpState.Completed && !irp.PendingReturned)
                {
                    // Stage 1 left a deferred request to its issuer: finish it here, before returning.
                    CompleteStage2(irp);
                }

                if (synchronous && status == NtStatus.STATUS_PENDING)
                {
                    bool alertable = (fo.Flags & FileObject.FO_ALERTABLE_IO) != 0;
                    NtStatus waited = _machine.Dispatcher.Wait(t, [fo.Event], WaitType.WaitAny, mode, alertable, null);
                    if (waited is NtStatus.STATUS_USER_APC or NtStatus.STATUS_ALERTED)
                    {
                        // The wait was interrupted: cancel the request and wait for it to finish (IopAbortInterruptedIrp).
                        CancelIrp(irp);
                        _machine.Dispatcher.Wait(t, [fo.Event], WaitType.WaitAny, KProcessorMode.KernelMode, false, null);
                    }

                    status = fo.FinalStatus;
                }

                ReleaseIrp(irp);
                return status;
            }
            finally
            {
                if (synchronous)
                {
                    ReleaseFileObjectLock(fo);
                }
            }
        }
        finally
        {
            if (userEvent is not null)
            {
                _machine.Objects.Dereference(userEvent);
            }

            if (ownsFileReference)
            {
                _machine.Objects.Dereference(fo);
            }
        }
    }

    private static NtStatus Validate(KThread t, FileObject fo, uint granted, ref IoRequest request)
    {
        bool user = t.PreviousMode == KProcessorMode.UserMode;
        switch (request.Major)
        {
            case IRP_MJ_READ:
                if (user && (granted & FILE_READ_DATA) == 0)
                {
                    return NtStatus.STATUS_ACCESS_DENIED;
                }

                break;
            case IRP_MJ_WRITE:
                if (user && (granted & (FILE_WRITE_DATA | FILE_APPEND_DATA)) == 0)
                {
                    return NtStatus.STATUS_ACCESS_DENIED;
                }

                break;
            case IRP_MJ_DEVICE_CONTROL:
                uint required = (request.IoControlCode >> 14) & 3;
                uint needed = ((required & 1) != 0 ? FILE_READ_DATA : 0) | ((required & 2) != 0 ? FILE_WRITE_DATA : 0);
                if (user && (granted & needed) != needed)
                {
                    return NtStatus.STATUS_ACCESS_DENIED;
                }

                break;
            case IRP_MJ_INTERNAL_DEVICE_CONTROL:
                if (user)
                {
                    return NtStatus.STATUS_INVALID_PARAMETER;
                }

                break;
            default:
                return NtStatus.STATUS_INVALID_PARAMETER;
        }

        // A buffer the length does not fit: the probe or the copy would fault on Windows (STATUS_ACCESS_VIOLATION).
        // UNCONFIRMED for a NULL buffer with a non-zero length (ReactOS silently uses length 0); we report the fault.
        if (!Fits(request.InputBuffer, request.InputLength) || !Fits(request.OutputBuffer, request.OutputLength))
        {
            return NtStatus.STATUS_ACCESS_VIOLATION;
        }

        if (request.Major is IRP_MJ_READ or IRP_MJ_WRITE)
        {
            if (!fo.IsSynchronous && request.ByteOffset is null && (fo.Flags & (FileObject.FO_NAMED_PIPE | FileObject.FO_MAILSLOT)) == 0)
            {
                // An asynchronous file object needs an explicit offset (ReadFile without an OVERLAPPED on an overlapped handle).
                return NtStatus.STATUS_INVALID_PARAMETER;
            }

            if (request.ByteOffset is long offset && offset < 0 && offset != FILE_USE_FILE_POINTER_POSITION
                && !(offset == FILE_WRITE_TO_END_OF_FILE && request.Major == IRP_MJ_WRITE))
            {
                return NtStatus.STATUS_INVALID_PARAMETER;
            }
        }

        if (request.ApcRoutine is not null && fo.CompletionPort is not null)
        {
            // ReadFileEx on a port-associated handle. UNCONFIRMED status value; the exclusion is documented.
            return NtStatus.STATUS_INVALID_PARAMETER;
        }

        return NtStatus.STATUS_SUCCESS;
    }

    private static bool Fits(byte[]? buffer, uint length) => length == 0 || buffer is not null && (uint)buffer.Length >= length;

    private Irp BuildRequestIrp(KThread t, DeviceObject top, FileObject fo, KEvent? userEvent, ref IoRequest request)
    {
        Irp irp = AllocateIrp(top.StackSize);
        irp.RequestorMode = t.PreviousMode;
        irp.UserIosb = request.IoStatusBlock;
        irp.UserEvent = userEvent;
        irp.Overlay.AsynchronousParameters.UserApcRoutine = request.ApcRoutine;
        irp.Overlay.AsynchronousParameters.UserApcContext = request.ApcContext;
        irp.Tail.Overlay.OriginalFileObject = fo;
        IoStackLocation next = irp.NextStackLocation!;
        next.MajorFunction = request.Major;
        next.FileObject = fo;

        switch (request.Major)
        {
            case IRP_MJ_READ:
            case IRP_MJ_WRITE:
                BuildReadWrite(t, top, fo, irp, next, ref request);
                break;
            default:
                BuildDeviceControl(t, irp, next, ref request);
                break;
        }

        return irp;
    }

    private void BuildReadWrite(KThread t, DeviceObject top, FileObject fo, Irp irp, IoStackLocation next, ref IoRequest request)
    {
        bool read = request.Major == IRP_MJ_READ;
        uint length = read ? request.OutputLength : request.InputLength;
        byte[]? buffer = read ? request.OutputBuffer : request.InputBuffer;
        ReadWriteParameters parameters = read ? next.Parameters.Read : next.Parameters.Write;
        parameters.Length = length;
        parameters.Key = request.Key;
        parameters.ByteOffset = request.ByteOffset ?? 0;
        irp.Flags = (read ? IRP_READ_OPERATION : IRP_WRITE_OPERATION) | IRP_DEFER_IO_COMPLETION;
        if ((fo.Flags & FileObject.FO_NO_INTERMEDIATE_BUFFERING) != 0)
        {
            irp.Flags |= IRP_NOCACHE;
        }

        SetUpReadWriteBuffer(t, top, irp, buffer, length, read);
        if ((top.Flags & DO_BUFFERED_IO) != 0 && length > 0)
        {
            irp.UserBuffer = CachedUserBuffer(t, buffer!, (int)length, output: read);
        }
    }

    /// <summary>
    /// The buffering of a read or write, by the device's I/O method: a system buffer (the data copied in for a write,
    /// copied back to the caller at completion for a read), an MDL over the caller's buffer (locked for write access
    /// for a read), or the caller's buffer itself (neither I/O).
    /// </summary>
    private void SetUpReadWriteBuffer(KThread t, DeviceObject device, Irp irp, byte[]? buffer, uint length, bool read)
    {
        if ((device.Flags & DO_BUFFERED_IO) != 0)
        {
            irp.Flags |= IRP_BUFFERED_IO | IRP_DEALLOCATE_BUFFER;
            if (length > 0)
            {
                byte[] system = Buffers.Rent((int)length);
                irp.AssociatedIrp.SystemBuffer = system;
                if (read)
                {
                    irp.Flags |= IRP_INPUT_OPERATION;
                    irp.CallerOutput = buffer;
                    irp.CallerOutputLength = (int)length;
                }
                else
                {
                    Buffer.BlockCopy(buffer!, 0, system, 0, (int)length);
                }
            }
        }
        else if ((device.Flags & DO_DIRECT_IO) != 0)
        {
            irp.MdlAddress = length > 0 ? new Mdl(buffer!, (int)length, forWrite: read) : null;
        }
        else
        {
            irp.UserBuffer = length > 0 ? new UserBuffer(buffer!, (int)length, t.Process) { IsOutput = read } : null;
        }
    }

    private void BuildDeviceControl(KThread t, Irp irp, IoStackLocation next, ref IoRequest request)
    {
        uint code = request.IoControlCode;
        DeviceIoControlParameters parameters = next.Parameters.DeviceIoControl;
        parameters.IoControlCode = code;
        parameters.InputBufferLength = request.InputLength;
        parameters.OutputBufferLength = request.OutputLength;
        uint inLength = request.InputLength;
        uint outLength = request.OutputLength;
        switch (code & 3)
        {
            case METHOD_BUFFERED:
            {
                irp.Flags = IRP_BUFFERED_IO | IRP_DEALLOCATE_BUFFER;
                uint length = Math.Max(inLength, outLength);
                if (length > 0)
                {
                    byte[] system = Buffers.Rent((int)length);
                    irp.AssociatedIrp.SystemBuffer = system;
                    if (inLength > 0)
                    {
                        Buffer.BlockCopy(request.InputBuffer!, 0, system, 0, (int)inLength);
                    }
                }

                if (outLength > 0)
                {
                    irp.Flags |= IRP_INPUT_OPERATION;
                    irp.CallerOutput = request.OutputBuffer;
                    irp.CallerOutputLength = (int)outLength;
                    irp.UserBuffer = CachedUserBuffer(t, request.OutputBuffer!, (int)outLength, output: true);
                }

                break;
            }

            case METHOD_IN_DIRECT:
            case METHOD_OUT_DIRECT:
                if (inLength > 0)
                {
                    irp.Flags = IRP_BUFFERED_IO | IRP_DEALLOCATE_BUFFER;
                    byte[] system = Buffers.Rent((int)inLength);
                    Buffer.BlockCopy(request.InputBuffer!, 0, system, 0, (int)inLength);
                    irp.AssociatedIrp.SystemBuffer = system;
                }

                irp.MdlAddress = outLength > 0 ? new Mdl(request.OutputBuffer!, (int)outLength, forWrite: (code & 3) == METHOD_OUT_DIRECT) : null;
                break;

            default:
                // METHOD_NEITHER: raw caller addresses; nothing probed, locked or copied.
                parameters.Type3InputBuffer = request.InputBuffer is null ? null : new UserBuffer(request.InputBuffer, (int)inLength, t.Process);
                irp.UserBuffer = request.OutputBuffer is null ? null : new UserBuffer(request.OutputBuffer, (int)outLength, t.Process) { IsOutput = true };
                break;
        }
    }

    /// <summary>The caller-buffer descriptor of a buffered request, reused while the caller keeps passing the same buffer.</summary>
    private static UserBuffer CachedUserBuffer(KThread t, byte[] buffer, int length, bool output)
    {
        UserBuffer? cached = output ? t.CachedOutputBuffer : t.CachedInputBuffer;
        if (cached is not null && ReferenceEquals(cached.Memory, buffer) && cached.Length == length && cached.Owner == t.Process)
        {
            return cached;
        }

        cached = new UserBuffer(buffer, length, t.Process) { IsOutput = output };
        if (output)
        {
            t.CachedOutputBuffer = cached;
        }
        else
        {
            t.CachedInputBuffer = cached;
        }

        return cached;
    }
}
