namespace IrpLab;

public static partial class Ntdll
{
    public const uint FILE_SUPERSEDE = 0;
    public const uint FILE_OPEN = 1;
    public const uint FILE_CREATE = 2;
    public const uint FILE_OPEN_IF = 3;
    public const uint FILE_OVERWRITE = 4;
    public const uint FILE_OVERWRITE_IF = 5;

    public const uint FILE_WRITE_THROUGH = IoManager.FILE_WRITE_THROUGH;
    public const uint FILE_NO_INTERMEDIATE_BUFFERING = IoManager.FILE_NO_INTERMEDIATE_BUFFERING;
    public const uint FILE_SYNCHRONOUS_IO_ALERT = IoManager.FILE_SYNCHRONOUS_IO_ALERT;
    public const uint FILE_SYNCHRONOUS_IO_NONALERT = IoManager.FILE_SYNCHRONOUS_IO_NONALERT;

    /// <summary>
    /// NtCreateFile (for devices): opens ObjectName (an NT path such as \??\HelloDDK), sends IRP_MJ_CREATE and
    /// returns a handle. Options without FILE_SYNCHRONOUS_IO_* give an asynchronous file object.
    /// </summary>
    public static NtStatus NtCreateFile(out Handle FileHandle, uint DesiredAccess, string ObjectName, IoStatusBlock IoStatusBlock, long? AllocationSize, uint FileAttributes, uint ShareAccess, uint CreateDisposition, uint CreateOptions)
    {
        ArgumentNullException.ThrowIfNull(ObjectName);
        KThread t = SystemCall.Enter();
        try
        {
            FileHandle = default;
            Machine m = t.Machine;
            NtStatus status = m.Io.OpenFile(t, ObjectName, DesiredAccess, ShareAccess, CreateDisposition, CreateOptions, FileAttributes, out FileObject? fo, out nuint information);
            if (!NtStatusClass.IsSuccess(status))
            {
                return status;
            }

            FileHandle = m.Objects.CreateHandle(t.Process, fo!, DesiredAccess);
            fo!.Flags |= FileObject.FO_HANDLE_CREATED;
            m.Objects.Dereference(fo);
            if (IoStatusBlock is not null)
            {
                IoStatusBlock.Status = status;
                IoStatusBlock.Information = information == 0 ? (nuint)Wdm.FILE_OPENED : information;
            }

            return status;
        }
        finally
        {
            SystemCall.Exit(t);
        }
    }

    /// <summary>NtOpenFile: NtCreateFile with FILE_OPEN.</summary>
    public static NtStatus NtOpenFile(out Handle FileHandle, uint DesiredAccess, string ObjectName, IoStatusBlock IoStatusBlock, uint ShareAccess, uint OpenOptions)
        => NtCreateFile(out FileHandle, DesiredAccess, ObjectName, IoStatusBlock, null, 0, ShareAccess, FILE_OPEN, OpenOptions);

    /// <summary>
    /// NtReadFile. Event (optional) is cleared at issue and set at completion; ApcRoutine/ApcContext queue a user APC
    /// to this thread at completion; ByteOffset is required on an asynchronous file object. What is written to
    /// IoStatusBlock, and when, follows nt-io-semantics §5.4.
    /// </summary>
    public static NtStatus NtReadFile(Handle FileHandle, Handle Event, IoApcRoutine? ApcRoutine, object? ApcContext, IoStatusBlock IoStatusBlock, byte[]? Buffer, uint Length, long? ByteOffset, uint? Key)
    {
        var request = new IoRequest
        {
            Major = IoManager.IRP_MJ_READ,
            File = FileHandle,
            Event = Event,
            ApcRoutine = ApcRoutine,
            ApcContext = ApcContext,
            IoStatusBlock = IoStatusBlock,
            OutputBuffer = Buffer,
            OutputLength = Length,
            ByteOffset = ByteOffset,
            Key = Key ?? 0,
        };
        return IssueRequest(ref request);
    }

    /// <summary>NtWriteFile (see NtReadFile).</summary>
    public static NtStatus NtWriteFile(Handle FileHandle, Handle Event, IoApcRoutine? ApcRoutine, object? ApcContext, IoStatusBlock IoStatusBlock, byte[]? Buffer, uint Length, long? ByteOffset, uint? Key)
    {
        var request = new IoRequest
        {
            Major = IoManager.IRP_MJ_WRITE,
            File = FileHandle,
            Event = Event,
            ApcRoutine = ApcRoutine,
            ApcContext = ApcContext,
            IoStatusBlock = IoStatusBlock,
            InputBuffer = Buffer,
            InputLength = Length,
            ByteOffset = ByteOffset,
            Key = Key ?? 0,
        };
        return IssueRequest(ref request);
    }

    /// <summary>
    /// NtDeviceIoControlFile: the handle must have the access the code's RequiredAccess bits ask for; buffers are
    /// captured by the code's method (buffered, in/out direct, neither).
    /// </summary>
    public static NtStatus NtDeviceIoControlFile(Handle FileHandle, Handle Event, IoApcRoutine? ApcRoutine, object? ApcContext, IoStatusBlock IoStatusBlock, uint IoControlCode, byte[]? InputBuffer, uint InputBufferLength, byte[]? OutputBuffer, uint OutputBufferLength)
    {
        var request = new IoRequest
        {
            Major = IoManager.IRP_MJ_DEVICE_CONTROL,
            File = FileHandle,
            Event = Event,
            ApcRoutine = ApcRoutine,
            ApcContext = ApcContext,
            IoStatusBlock = IoStatusBlock,
            IoControlCode = IoControlCode,
            InputBuffer = InputBuffer,
            InputLength = InputBufferLength,
            OutputBuffer = OutputBuffer,
            OutputLength = OutputBufferLength,
        };
        return IssueRequest(ref request);
    }

    private static NtStatus IssueRequest(ref IoRequest request)
    {
        ArgumentNullException.ThrowIfNull(request.IoStatusBlock);
        KThread t = SystemCall.Enter();
        try
        {
            return t.Machine.Io.Issue(t, ref request);
        }
        finally
        {
            SystemCall.Exit(t);
        }
    }
}
