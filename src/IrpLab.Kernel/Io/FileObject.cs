namespace IrpLab;

/// <summary>
/// FILE_OBJECT: one open of a device (one per CreateFile). A handle to it is waitable: the wait uses
/// <see cref="Event"/>, which the I/O manager clears when a request is issued and sets at completion when the
/// request carried no event of its own. A synchronous file object (FO_SYNCHRONOUS_IO) serialises requests.
/// </summary>
public sealed class FileObject : KernelObject, IWaitableObject
{
    public const uint FO_FILE_OPEN = 0x1;
    public const uint FO_SYNCHRONOUS_IO = 0x2;
    public const uint FO_ALERTABLE_IO = 0x4;
    public const uint FO_NO_INTERMEDIATE_BUFFERING = 0x8;
    public const uint FO_WRITE_THROUGH = 0x10;
    public const uint FO_NAMED_PIPE = 0x80;
    public const uint FO_MAILSLOT = 0x200;
    public const uint FO_CLEANUP_COMPLETE = 0x4000;
    public const uint FO_HANDLE_CREATED = 0x40000;
    public const uint FO_SKIP_COMPLETION_PORT = 0x02000000;
    public const uint FO_SKIP_SET_EVENT = 0x04000000;
    public const uint FO_SKIP_SET_FAST_IO = 0x08000000;

    internal FileObject(Machine machine, DeviceObject device, string fileName)
    {
        Machine = machine;
        DeviceObject = device;
        FileName = fileName;
        Event = new KEvent(EventType.NotificationEvent, false);
        LockEvent = new KEvent(EventType.SynchronizationEvent, false);
        IsManaged = true;
    }

    /// <summary>The device that was opened (the bottom of the stack the request goes to is its attached top).</summary>
    public DeviceObject DeviceObject { get; }

    /// <summary>FO_* flags.</summary>
    public uint Flags;

    /// <summary>Per-open driver state.</summary>
    public object? FsContext;

    /// <summary>Per-open driver state.</summary>
    public object? FsContext2;

    /// <summary>The part of the path after the device name ("\sub\path", or empty).</summary>
    public UnicodeString FileName { get; }

    public LargeInteger CurrentByteOffset;

    /// <summary>Signaled at completion of a request that had no event (and after a successful create).</summary>
    public KEvent Event { get; }

    /// <summary>The final status of the last request completed on a synchronous file object.</summary>
    public NtStatus FinalStatus;

    public FileObject? RelatedFileObject { get; internal set; }

    internal Machine Machine { get; }

    /// <summary>The per-file-object lock of synchronous I/O: a busy flag, a waiter count and an event to wait on.</summary>
    internal KEvent LockEvent { get; }

    internal int LockBusy;

    internal int LockWaiters;

    internal uint GrantedAccess;

    /// <summary>IRP_MJ_CREATE failed: the object goes away without cleanup or close.</summary>
    internal bool CreateFailed;

    /// <summary>The completion port and key (FileCompletionInformation).</summary>
    internal CompletionPort? CompletionPort;

    internal nuint CompletionKey;

    DispatcherObject IWaitableObject.WaitObject => Event;

    internal bool IsSynchronous => (Flags & FO_SYNCHRONOUS_IO) != 0;

    internal override ObjectType Type => ObjectType.File;

    internal override void OnLastHandleClosed() => Machine.Io.SendCleanup(this);

    internal override void OnDelete() => Machine.Io.OnFileObjectDeleted(this);

    public override string ToString() => "file object on " + DeviceObject + FileName.Buffer;
}
