using System.Buffers.Binary;
using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Tests.Cancel;

/// <summary>How the lab device finishes a read or a write (chosen per request by its byte offset).</summary>
public enum LabMode : byte
{
    /// <summary>Complete in the dispatch routine with the requested status and byte count, and return that status.</summary>
    Immediate = 0,

    /// <summary>IoMarkIrpPending, return STATUS_PENDING; a system thread completes one virtual second later (not cancelable).</summary>
    PendLater = 1,

    /// <summary>Queued cancel-safely (IoCsqInsertIrp): it ends by cancellation, by cleanup of its file object, or by IOCTL_COMPLETE_QUEUED.</summary>
    Queue = 2,

    /// <summary>As <see cref="Queue"/>, with an IO_CSQ_IRP_CONTEXT kept in <see cref="LabDriver.Contexts"/>.</summary>
    QueueWithContext = 3,

    /// <summary>Marked pending and held with no cancel routine: the driver ignores cancellation until IOCTL_RELEASE_HELD.</summary>
    Hold = 4,

    /// <summary>As <see cref="Queue"/>, but the dispatch routine first waits one virtual second (a cancel can come before the insert).</summary>
    QueueAfterDelay = 5,
}

/// <summary>
/// A configurable device for the cancellation, APC and completion-port tests. A read or write says how it wants to be
/// finished through its byte offset (<see cref="Offset"/>): the low 32 bits are the final status, the high 32 bits
/// the mode and the byte count. A read fills its buffer with 'a', 'b', 'c' ... up to the byte count. Queued requests
/// live in a cancel-safe queue (IoCsq*) over a LIST_ENTRY list; IRP_MJ_CLEANUP completes the queued requests of the
/// file object being cleaned up, as MS Learn requires. Every create, cleanup, close and driver-side completion is
/// logged in order. One instance per machine: tests run in parallel.
/// </summary>
public sealed class LabDriver
{
    public const string DeviceName = @"\Device\Lab";
    public const string Win32Name = @"\\.\Lab";

    /// <summary>Completes every queued request (input: the status, 4 bytes; default STATUS_SUCCESS).</summary>
    public static readonly uint IOCTL_COMPLETE_QUEUED = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x900, METHOD_BUFFERED, FILE_ANY_ACCESS);

    /// <summary>Completes every held request (input: the status, 4 bytes; default STATUS_SUCCESS).</summary>
    public static readonly uint IOCTL_RELEASE_HELD = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x901, METHOD_BUFFERED, FILE_ANY_ACCESS);

    /// <summary>Runs <see cref="Kernel"/> in the dispatch routine (kernel mode, PASSIVE_LEVEL, the caller's thread).</summary>
    public static readonly uint IOCTL_RUN = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x902, METHOD_BUFFERED, FILE_ANY_ACCESS);

    /// <summary>Behaves as the 8-byte input (an <see cref="Offset"/> value) says; the output is filled like a read's.</summary>
    public static readonly uint IOCTL_BEHAVE = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x903, METHOD_BUFFERED, FILE_ANY_ACCESS);

    private readonly Lock _logLock = new();
    private readonly List<string> _log = [];
    private readonly KSpinLock _queueLock = new();
    private readonly ListEntry _queue = new();
    private readonly List<Irp> _held = [];
    private int _files;

    public LabDriver()
    {
        IoCsqInitialize(Csq, CsqInsert, CsqRemove, CsqPeekNext, CsqAcquire, CsqRelease, CsqCompleteCanceled);
    }

    public IoCsq Csq { get; } = new();

    /// <summary>The contexts of <see cref="LabMode.QueueWithContext"/> requests, in arrival order.</summary>
    public List<IoCsqIrpContext> Contexts { get; } = [];

    /// <summary>IRP_MJ_CLEANUP completes the file object's queued requests (true), or forgets to (false, a driver bug).</summary>
    public bool CleanupCompletesQueued { get; set; } = true;

    /// <summary>Kernel code a test runs through IOCTL_RUN.</summary>
    public Action? Kernel { get; set; }

    public DeviceObject? Device { get; private set; }

    /// <summary>The IRQL the last IRP_MJ_CLOSE was dispatched at.</summary>
    public byte CloseIrql { get; private set; } = 0xFF;

    public int InsertCalls { get; private set; }

    public int RemoveCalls { get; private set; }

    public int CompleteCanceledCalls { get; private set; }

    /// <summary>IRP_MJ_CLEANUP's PeekContext loop removed and completed this many requests.</summary>
    public int CleanedUp { get; private set; }

    /// <summary>"create F1", "cleanup F1", "cancelled F1" (a request completed by cleanup), "close F1", ...</summary>
    public string[] Log
    {
        get
        {
            lock (_logLock)
            {
                return [.. _log];
            }
        }
    }

    /// <summary>The held (cancel-ignoring) requests, oldest first.</summary>
    public Irp[] Held
    {
        get
        {
            lock (_held)
            {
                return [.. _held];
            }
        }
    }

    /// <summary>The CurrentByteOffset IRP_MJ_CREATE gives a new file object: what a synchronous ReadFile without an OVERLAPPED asks for.</summary>
    public long InitialFilePointer { get; set; }

    /// <summary>The byte offset that asks for <paramref name="mode"/>, <paramref name="status"/> and <paramref name="information"/>.</summary>
    public static long Offset(LabMode mode, NtStatus status, uint information = 0)
        => ((long)(((ulong)information << 8) | (byte)mode) << 32) | (uint)status;

    /// <summary>Sets an OVERLAPPED's Offset/OffsetHigh for a request.</summary>
    public static void Configure(OVERLAPPED overlapped, LabMode mode, NtStatus status, uint information = 0)
    {
        ArgumentNullException.ThrowIfNull(overlapped);
        long offset = Offset(mode, status, information);
        overlapped.Offset = (uint)offset;
        overlapped.OffsetHigh = (uint)(offset >> 32);
    }

    /// <summary>The 8-byte IOCTL_BEHAVE input.</summary>
    public static byte[] BehaveInput(LabMode mode, NtStatus status, uint information = 0)
    {
        byte[] input = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(input, Offset(mode, status, information));
        return input;
    }

    public static byte[] StatusInput(NtStatus status)
    {
        byte[] input = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(input, (int)status);
        return input;
    }

    public NtStatus DriverEntry(DriverObject driver, UnicodeString registryPath)
    {
        NtStatus status = IoCreateDevice(driver, this, DeviceName, FILE_DEVICE_UNKNOWN, 0, FALSE, out DeviceObject device);
        if (!NT_SUCCESS(status))
        {
            return status;
        }

        Device = device;
        device.Flags |= DO_BUFFERED_IO;
        KeInitializeSpinLock(_queueLock);
        InitializeListHead(_queue);
        driver.MajorFunction[IRP_MJ_CREATE] = Create;
        driver.MajorFunction[IRP_MJ_CLOSE] = Close;
        driver.MajorFunction[IRP_MJ_CLEANUP] = Cleanup;
        driver.MajorFunction[IRP_MJ_READ] = ReadWrite;
        driver.MajorFunction[IRP_MJ_WRITE] = ReadWrite;
        driver.MajorFunction[IRP_MJ_DEVICE_CONTROL] = DeviceControl;
        return IoCreateSymbolicLink(@"\DosDevices\Lab", DeviceName);
    }

    /// <summary>The name IRP_MJ_CREATE gave a file object ("F1", "F2", ...).</summary>
    public static string NameOf(FileObject? fileObject) => fileObject?.FsContext as string ?? "?";

    private void Add(string entry)
    {
        lock (_logLock)
        {
            _log.Add(entry);
        }
    }

    private NtStatus Create(DeviceObject device, Irp irp)
    {
        FileObject fo = IoGetCurrentIrpStackLocation(irp).FileObject!;
        fo.FsContext = "F" + Interlocked.Increment(ref _files);
        fo.CurrentByteOffset = InitialFilePointer;
        Add("create " + NameOf(fo));
        return CompleteNow(irp, STATUS_SUCCESS, 0);
    }

    private NtStatus Close(DeviceObject device, Irp irp)
    {
        CloseIrql = KeGetCurrentIrql();
        Add("close " + NameOf(IoGetCurrentIrpStackLocation(irp).FileObject));
        return CompleteNow(irp, STATUS_SUCCESS, 0);
    }

    /// <summary>IRP_MJ_CLEANUP: complete (STATUS_CANCELLED) every queued request of this file object, and only those.</summary>
    private NtStatus Cleanup(DeviceObject device, Irp irp)
    {
        FileObject fo = IoGetCurrentIrpStackLocation(irp).FileObject!;
        Add("cleanup " + NameOf(fo));
        while (CleanupCompletesQueued && IoCsqRemoveNextIrp(Csq, fo) is Irp queued)
        {
            CleanedUp++;
            Add("cancelled " + NameOf(fo));
            CompleteNow(queued, STATUS_CANCELLED, 0);
        }

        return CompleteNow(irp, STATUS_SUCCESS, 0);
    }

    private NtStatus ReadWrite(DeviceObject device, Irp irp)
    {
        IoStackLocation sp = IoGetCurrentIrpStackLocation(irp);
        long offset = sp.MajorFunction == IRP_MJ_READ ? sp.Parameters.Read.ByteOffset : sp.Parameters.Write.ByteOffset;
        if (sp.MajorFunction == IRP_MJ_READ)
        {
            Fill(irp.AssociatedIrp.SystemBuffer, sp.Parameters.Read.Length);
        }

        return Start(irp, offset);
    }

    private NtStatus DeviceControl(DeviceObject device, Irp irp)
    {
        IoStackLocation sp = IoGetCurrentIrpStackLocation(irp);
        uint code = sp.Parameters.DeviceIoControl.IoControlCode;
        byte[]? buffer = irp.AssociatedIrp.SystemBuffer;
        uint inLength = sp.Parameters.DeviceIoControl.InputBufferLength;
        NtStatus given = inLength >= 4 ? (NtStatus)BinaryPrimitives.ReadInt32LittleEndian(buffer) : STATUS_SUCCESS;
        if (code == IOCTL_COMPLETE_QUEUED)
        {
            while (IoCsqRemoveNextIrp(Csq, null) is Irp queued)
            {
                CompleteNow(queued, given, queued.IoStatus.Information);
            }

            return CompleteNow(irp, STATUS_SUCCESS, 0);
        }

        if (code == IOCTL_RELEASE_HELD)
        {
            Irp[] held;
            lock (_held)
            {
                held = [.. _held];
                _held.Clear();
            }

            foreach (Irp h in held)
            {
                CompleteNow(h, given, h.IoStatus.Information);
            }

            return CompleteNow(irp, STATUS_SUCCESS, 0);
        }

        if (code == IOCTL_RUN)
        {
            Kernel?.Invoke();
            return CompleteNow(irp, STATUS_SUCCESS, 0);
        }

        if (code == IOCTL_BEHAVE && inLength >= 8)
        {
            long offset = BinaryPrimitives.ReadInt64LittleEndian(buffer);
            Fill(buffer, sp.Parameters.DeviceIoControl.OutputBufferLength);
            return Start(irp, offset);
        }

        return CompleteNow(irp, STATUS_INVALID_DEVICE_REQUEST, 0);
    }

    private NtStatus Start(Irp irp, long offset)
    {
        var status = (NtStatus)(uint)offset;
        var mode = (LabMode)(byte)(offset >> 32);
        uint information = (uint)(offset >> 40);
        switch (mode)
        {
            case LabMode.Immediate:
                return CompleteNow(irp, status, information);

            case LabMode.PendLater:
                IoMarkIrpPending(irp);
                irp.IoStatus.Status = status;
                irp.IoStatus.Information = information;
                PsCreateSystemThread(out Handle thread, THREAD_ALL_ACCESS, null, null, null, CompleteLater, irp);
                ZwClose(thread);
                return STATUS_PENDING;

            case LabMode.Queue:
            case LabMode.QueueWithContext:
            case LabMode.QueueAfterDelay:
                irp.IoStatus.Information = information;
                IoCsqIrpContext? context = null;
                if (mode == LabMode.QueueWithContext)
                {
                    context = new IoCsqIrpContext();
                    lock (Contexts)
                    {
                        Contexts.Add(context);
                    }
                }
                else if (mode == LabMode.QueueAfterDelay)
                {
                    KeDelayExecutionThread(KernelMode, FALSE, RELATIVE(SECONDS(1)));
                }

                // IoCsqInsertIrp marks the IRP pending.
                IoCsqInsertIrp(Csq, irp, context);
                return STATUS_PENDING;

            case LabMode.Hold:
                IoMarkIrpPending(irp);
                irp.IoStatus.Information = information;
                lock (_held)
                {
                    _held.Add(irp);
                }

                return STATUS_PENDING;

            default:
                return CompleteNow(irp, STATUS_INVALID_PARAMETER, 0);
        }
    }

    private static void CompleteLater(Irp irp)
    {
        KeDelayExecutionThread(KernelMode, FALSE, RELATIVE(SECONDS(1)));
        IoCompleteRequest(irp, IO_NO_INCREMENT);
    }

    private static NtStatus CompleteNow(Irp irp, NtStatus status, nuint information)
    {
        irp.IoStatus.Status = status;
        irp.IoStatus.Information = information;
        IoCompleteRequest(irp, IO_NO_INCREMENT);
        return status;
    }

    private static void Fill(byte[]? buffer, uint length)
    {
        if (buffer is null)
        {
            return;
        }

        for (int i = 0; i < Math.Min(buffer.Length, (int)length); i++)
        {
            buffer[i] = (byte)('a' + (i % 26));
        }
    }

    // ---------------------------------------------------------------- the cancel-safe queue's callbacks

    private void CsqInsert(IoCsq csq, Irp irp)
    {
        InsertCalls++;
        InsertTailList(_queue, irp.Tail.Overlay.ListEntry);
    }

    private void CsqRemove(IoCsq csq, Irp irp)
    {
        RemoveCalls++;
        RemoveEntryList(irp.Tail.Overlay.ListEntry);
    }

    private Irp? CsqPeekNext(IoCsq csq, Irp? irp, object? peekContext)
    {
        ListEntry next = irp is null ? _queue.Flink : irp.Tail.Overlay.ListEntry.Flink;
        for (; next != _queue; next = next.Flink)
        {
            Irp candidate = CONTAINING_RECORD<Irp>(next);
            if (peekContext is null || IoGetCurrentIrpStackLocation(candidate).FileObject == peekContext)
            {
                return candidate;
            }
        }

        return null;
    }

    private void CsqAcquire(IoCsq csq, out byte irql) => KeAcquireSpinLock(_queueLock, out irql);

    private void CsqRelease(IoCsq csq, byte irql) => KeReleaseSpinLock(_queueLock, irql);

    private void CsqCompleteCanceled(IoCsq csq, Irp irp)
    {
        CompleteCanceledCalls++;
        CompleteNow(irp, STATUS_CANCELLED, 0);
    }

    /// <summary>The requests the cancel-safe queue holds, head first (call from kernel code).</summary>
    public Irp[] Queued()
    {
        var irps = new List<Irp>();
        KeAcquireSpinLock(_queueLock, out byte irql);
        for (ListEntry e = _queue.Flink; e != _queue; e = e.Flink)
        {
            irps.Add(CONTAINING_RECORD<Irp>(e));
        }

        KeReleaseSpinLock(_queueLock, irql);
        return [.. irps];
    }
}
