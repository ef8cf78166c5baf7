using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Tests.StartIo;

/// <summary>What StartIo saw when it was called for one IRP.</summary>
internal sealed record StartIoCall(Irp Irp, uint Key, byte Irql, bool IsCurrentIrp, bool DeviceBusy, DriverCancel? CancelRoutine, int Depth, int ThreadId);

/// <summary>
/// A driver whose device control requests go through the I/O manager's device queue: the dispatch routine marks the
/// IRP pending and calls IoStartPacket with the key in the request's first four input bytes (when
/// <see cref="UseKeys"/>) and <see cref="CancelFunction"/>. StartIo records what it saw and either keeps the IRP
/// (the default: the test finishes it with <see cref="FinishCurrent"/>) or, with <see cref="CompleteInStartIo"/>,
/// completes it at once and calls IoStartNextPacket from inside StartIo.
/// </summary>
internal sealed class StartIoTestDriver
{
    private readonly List<StartIoCall> _calls = [];
    private int _depth;

    public const string Name = "SioDrv";

    public DeviceObject Device { get; private set; } = null!;

    public bool UseKeys { get; init; }

    public DriverCancel? CancelFunction { get; init; }

    public bool CompleteInStartIo { get; init; }

    /// <summary>While set, StartIo keeps its IRP even with <see cref="CompleteInStartIo"/> (to let a queue build up).</summary>
    public bool Hold { get; set; }

    /// <summary>IoSetStartIoAttributes(DeferredStartIo, NonCancelable) right after IoCreateDevice, when set.</summary>
    public (bool Deferred, bool NonCancelable)? Attributes { get; init; }

    public IReadOnlyList<StartIoCall> Calls => _calls;

    /// <summary>The deepest StartIo nesting seen (1 = never called from inside itself).</summary>
    public int MaxDepth { get; private set; }

    public static uint KeyOf(Irp irp)
    {
        byte[]? input = irp.AssociatedIrp.SystemBuffer;
        return input is { Length: >= 4 } ? BitConverter.ToUInt32(input, 0) : 0;
    }

    public void Load(Machine m) => KmTest.RunAsDriver(m, Name, driver =>
    {
        Assert.Equal(STATUS_SUCCESS, IoCreateDevice(driver, this, null, FILE_DEVICE_UNKNOWN, 0, FALSE, out DeviceObject device));
        device.Flags |= DO_BUFFERED_IO;
        Device = device;
        if (Attributes is (bool deferred, bool nonCancelable))
        {
            IoSetStartIoAttributes(device, deferred, nonCancelable);
        }

        driver.MajorFunction[IRP_MJ_DEVICE_CONTROL] = Dispatch;
        driver.DriverStartIo = StartIo;
        driver.DriverUnload = d => IoDeleteDevice(d.DeviceObject!);
    });

    private NtStatus Dispatch(DeviceObject device, Irp irp)
    {
        IoMarkIrpPending(irp);
        uint key = KeyOf(irp);
        IoStartPacket(device, irp, UseKeys ? key : null, CancelFunction);
        return STATUS_PENDING;
    }

    private void StartIo(DeviceObject device, Irp irp)
    {
        _depth++;
        MaxDepth = Math.Max(MaxDepth, _depth);
        _calls.Add(new StartIoCall(irp, KeyOf(irp), KeGetCurrentIrql(), device.CurrentIrp == irp, device.DeviceQueue.Busy, irp.CancelRoutine, _depth,
            PsGetCurrentThread().Id));
        if (CompleteInStartIo && !Hold)
        {
            IoSetCancelRoutine(irp, null);
            irp.IoStatus.Status = STATUS_SUCCESS;
            irp.IoStatus.Information = 0;
            IoStartNextPacket(device, CancelFunction is not null);
            IoCompleteRequest(irp, IO_NO_INCREMENT);
        }

        _depth--;
    }

    /// <summary>
    /// What a DpcForIsr does, from the calling thread: at DISPATCH_LEVEL, complete CurrentIrp with
    /// <paramref name="status"/> after starting the next packet (by key when given). Returns the finished IRP.
    /// </summary>
    public Irp FinishCurrent(NtStatus status = STATUS_SUCCESS, uint? nextKey = null)
    {
        KeRaiseIrql(DISPATCH_LEVEL, out byte old);
        Irp irp = Device.CurrentIrp ?? throw new InvalidOperationException("No CurrentIrp.");
        IoSetCancelRoutine(irp, null);
        irp.IoStatus.Status = status;
        irp.IoStatus.Information = 0;
        if (nextKey is uint key)
        {
            IoStartNextPacketByKey(Device, CancelFunction is not null, key);
        }
        else
        {
            IoStartNextPacket(Device, CancelFunction is not null);
        }

        IoCompleteRequest(irp, IO_NO_INCREMENT);
        KeLowerIrql(old);
        return irp;
    }
}

/// <summary>One device control request sent from a kernel thread: its IRP, event and status block.</summary>
internal sealed class Request
{
    private Request(Irp irp, KEvent done, IoStatusBlock iosb, uint key)
    {
        Irp = irp;
        Done = done;
        Iosb = iosb;
        Key = key;
    }

    public Irp Irp { get; }

    public KEvent Done { get; }

    public IoStatusBlock Iosb { get; }

    public uint Key { get; }

    public bool Completed => KeReadStateEvent(Done) != 0;

    /// <summary>IoBuildDeviceIoControlRequest with the key as input, then IoCallDriver, which must return STATUS_PENDING.</summary>
    public static Request Send(DeviceObject device, uint key = 0, Action<Irp>? beforeCall = null)
    {
        var done = new KEvent();
        KeInitializeEvent(done, NotificationEvent, FALSE);
        var iosb = new IoStatusBlock { Status = unchecked((NtStatus)0x7EADBEEF) };
        Irp irp = IoBuildDeviceIoControlRequest(TestIoctl, device, BitConverter.GetBytes(key), 4, null, 0, FALSE, done, iosb);
        beforeCall?.Invoke(irp);
        Assert.Equal(STATUS_PENDING, IoCallDriver(device, irp));
        return new Request(irp, done, iosb, key);
    }

    public static readonly uint TestIoctl = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x880, METHOD_BUFFERED, FILE_ANY_ACCESS);
}
