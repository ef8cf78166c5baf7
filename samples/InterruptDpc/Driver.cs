using IrpLab.Hardware;
using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Samples.InterruptDpc;

/// <summary>
/// The hardware a driver is given: where its registers are and which interrupt it raises. On Windows the PnP manager
/// assigns these and hands them to the driver in IRP_MN_START_DEVICE (the translated CM_RESOURCE_LIST: a memory
/// range, an interrupt vector, its IRQL and affinity). The machine has no PnP manager, so the host plugs in a
/// <see cref="SimulatedDevice"/> and passes this record to DriverEntry instead.
/// </summary>
public sealed record DeviceResources(DeviceRegister Registers, uint Vector, byte Irql, KInterruptMode InterruptMode, ulong Affinity);

/// <summary>
/// Seed 002, "中断服务例程" and "DPC例程": a driver for an interrupting device. Requests are IOCTLs that ask the
/// device to transform a 32-bit value (it returns the bitwise complement). The dispatch routine queues each with
/// IoStartPacket; StartIo programs the device (DATA, then START in CONTROL) for CurrentIrp; when the operation is
/// done the device interrupts; the ISR, at DIRQL, acknowledges the device and requests the DpcForIsr; the DpcForIsr,
/// at DISPATCH_LEVEL, reads the result, starts the next packet and completes the IRP. The state the ISR shares with
/// the rest of the driver is touched elsewhere only inside KeSynchronizeExecution.
/// </summary>
public static class Driver
{
    public const string NT_DEVICE_NAME = "\\Device\\Complement";
    public const string DOS_DEVICE_NAME = "\\DosDevices\\Complement";

    /// <summary>In: a ULONG. Out: the ULONG the device computed from it.</summary>
    public static readonly uint IOCTL_COMPLEMENT = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x900, METHOD_BUFFERED, FILE_ANY_ACCESS);

    public sealed class DEVICE_EXTENSION
    {
        public DeviceObject DeviceObject = null!;
        public DeviceRegister Registers;
        public KInterrupt InterruptObject = null!;

        // Shared with the ISR: guarded by the interrupt spin lock (the ISR holds it; everyone else uses
        // KeSynchronizeExecution).

        /// <summary>An operation was started and its result has not been taken yet.</summary>
        public bool OperationInProgress;

        /// <summary>The device's COUNT register when the operation was started: it has finished when COUNT moves.</summary>
        public uint CountAtStart;

        /// <summary>The value StartIo asked the device to transform, and what the device returned.</summary>
        public uint Input;
        public uint Result;

        /// <summary>Interrupts the ISR claimed (for the trace and the tests).</summary>
        public int InterruptCount;

        /// <summary>DpcForIsr runs, and those that found nothing finished (spurious, or merged into an earlier run).</summary>
        public int DpcCount;
        public int IdleDpcCount;
    }

    /// <summary>DriverEntry with the resources the host assigned (see <see cref="DeviceResources"/>).</summary>
    public static DriverInitialize WithResources(DeviceResources Resources)
        => (DriverObject, RegistryPath) => DriverEntry(DriverObject, RegistryPath, Resources);

    public static NtStatus DriverEntry(DriverObject DriverObject, UnicodeString RegistryPath, DeviceResources Resources)
    {
        var pdx = new DEVICE_EXTENSION { Registers = Resources.Registers };
        NtStatus status = IoCreateDevice(DriverObject, pdx, NT_DEVICE_NAME, FILE_DEVICE_UNKNOWN, 0, FALSE, out DeviceObject fdo);
        if (!NT_SUCCESS(status))
        {
            return status;
        }

        pdx.DeviceObject = fdo;
        fdo.Flags |= DO_BUFFERED_IO;
        DriverObject.MajorFunction[IRP_MJ_CREATE] = DispatchCreateClose;
        DriverObject.MajorFunction[IRP_MJ_CLOSE] = DispatchCreateClose;
        DriverObject.MajorFunction[IRP_MJ_DEVICE_CONTROL] = DispatchDeviceControl;
        DriverObject.DriverStartIo = StartIo;
        DriverObject.DriverUnload = DriverUnload;

        // The DpcForIsr first: the ISR may run as soon as the interrupt is connected.
        IoInitializeDpcRequest(fdo, DpcForIsr);
        status = IoConnectInterrupt(out pdx.InterruptObject, OnInterrupt, pdx, null, Resources.Vector, Resources.Irql, Resources.Irql,
            Resources.InterruptMode, FALSE, Resources.Affinity, FALSE);
        if (!NT_SUCCESS(status))
        {
            KdPrint(("Complement: IoConnectInterrupt failed %08X\n", (uint)status));
            IoDeleteDevice(fdo);
            return status;
        }

        status = IoCreateSymbolicLink(DOS_DEVICE_NAME, NT_DEVICE_NAME);
        if (!NT_SUCCESS(status))
        {
            IoDisconnectInterrupt(pdx.InterruptObject);
            IoDeleteDevice(fdo);
        }

        return status;
    }

    /// <summary>Disconnect the interrupt first (no ISR can run afterwards), then let a DpcForIsr still queued finish.</summary>
    public static void DriverUnload(DriverObject DriverObject)
    {
        DeviceObject fdo = DriverObject.DeviceObject!;
        var pdx = (DEVICE_EXTENSION)fdo.DeviceExtension!;
        IoDisconnectInterrupt(pdx.InterruptObject);
        KeFlushQueuedDpcs();
        IoDeleteSymbolicLink(DOS_DEVICE_NAME);
        IoDeleteDevice(fdo);
    }

    public static NtStatus DispatchCreateClose(DeviceObject fdo, Irp Irp)
    {
        Irp.IoStatus.Status = STATUS_SUCCESS;
        Irp.IoStatus.Information = 0;
        IoCompleteRequest(Irp, IO_NO_INCREMENT);
        return STATUS_SUCCESS;
    }

    public static NtStatus DispatchDeviceControl(DeviceObject fdo, Irp Irp)
    {
        IoStackLocation stack = IoGetCurrentIrpStackLocation(Irp);
        NtStatus status = STATUS_SUCCESS;
        if (stack.Parameters.DeviceIoControl.IoControlCode != IOCTL_COMPLEMENT)
        {
            status = STATUS_INVALID_DEVICE_REQUEST;
        }
        else if (stack.Parameters.DeviceIoControl.InputBufferLength < sizeof(uint) || stack.Parameters.DeviceIoControl.OutputBufferLength < sizeof(uint))
        {
            status = STATUS_BUFFER_TOO_SMALL;
        }

        if (!NT_SUCCESS(status))
        {
            Irp.IoStatus.Status = status;
            Irp.IoStatus.Information = 0;
            IoCompleteRequest(Irp, IO_NO_INCREMENT);
            return status;
        }

        // One request at a time on the device: the I/O manager's device queue holds the rest.
        IoMarkIrpPending(Irp);
        IoStartPacket(fdo, Irp, null, null);
        return STATUS_PENDING;
    }

    /// <summary>StartIo (DISPATCH_LEVEL): program the device for CurrentIrp. Its interrupt finishes the request.</summary>
    public static void StartIo(DeviceObject fdo, Irp Irp)
    {
        var pdx = (DEVICE_EXTENSION)fdo.DeviceExtension!;
        pdx.Input = BitConverter.ToUInt32(Irp.AssociatedIrp.SystemBuffer!, 0);
        KdPrint(("Complement: StartIo programs the device with %08X\n", pdx.Input));

        // The registers and the shared fields are the ISR's too: program the device holding the interrupt spin lock.
        KeSynchronizeExecution(pdx.InterruptObject, ProgramDevice, pdx);
    }

    /// <summary>SynchCritSection (at the interrupt's SynchronizeIrql, holding its spin lock).</summary>
    private static bool ProgramDevice(object? SynchronizeContext)
    {
        var pdx = (DEVICE_EXTENSION)SynchronizeContext!;
        pdx.CountAtStart = READ_REGISTER_ULONG(pdx.Registers + SimulatedDevice.CountRegister);
        pdx.OperationInProgress = TRUE;
        WRITE_REGISTER_ULONG(pdx.Registers + SimulatedDevice.DataRegister, pdx.Input);
        WRITE_REGISTER_ULONG(pdx.Registers + SimulatedDevice.ControlRegister, SimulatedDevice.ControlStart | SimulatedDevice.ControlInterruptEnable);
        return TRUE;
    }

    /// <summary>
    /// The ISR, at DIRQL holding the interrupt spin lock. Not our device's interrupt (DONE clear): FALSE at once.
    /// Otherwise acknowledge it — which on a level-sensitive line drops the line — and defer the rest to the
    /// DpcForIsr. No IoCompleteRequest here, and nothing that waits or takes an ordinary spin lock.
    /// </summary>
    public static bool OnInterrupt(KInterrupt Interrupt, object? ServiceContext)
    {
        var pdx = (DEVICE_EXTENSION)ServiceContext!;
        uint status = READ_REGISTER_ULONG(pdx.Registers + SimulatedDevice.StatusRegister);
        if ((status & SimulatedDevice.StatusDone) == 0)
        {
            return FALSE;
        }

        WRITE_REGISTER_ULONG(pdx.Registers + SimulatedDevice.StatusRegister, SimulatedDevice.StatusDone);
        pdx.InterruptCount++;

        // DbgPrint may be called at DIRQL (not with %wZ or other Unicode formats).
        KdPrint(("Complement: ISR at IRQL %d acknowledges interrupt %d\n", (int)KeGetCurrentIrql(), pdx.InterruptCount));
        IoRequestDpc(pdx.DeviceObject, pdx.DeviceObject.CurrentIrp, null);
        return TRUE;
    }

    /// <summary>
    /// The DpcForIsr (DISPATCH_LEVEL). Several interrupts before it runs give one run (IoRequestDpc on a queued DPC
    /// does nothing), and an interrupt can be spurious: so the work is what the device says it has finished — its
    /// COUNT register moved past the value at start — not "one request per call".
    /// </summary>
    public static void DpcForIsr(KDpc Dpc, DeviceObject fdo, Irp? Irp, object? Context)
    {
        var pdx = (DEVICE_EXTENSION)fdo.DeviceExtension!;
        pdx.DpcCount++;
        if (!KeSynchronizeExecution(pdx.InterruptObject, TakeResult, pdx))
        {
            pdx.IdleDpcCount++;
            KdPrint("Complement: DpcForIsr finds nothing finished\n");
            return;
        }

        Irp current = fdo.CurrentIrp!;
        BitConverter.TryWriteBytes(current.AssociatedIrp.SystemBuffer!, pdx.Result);
        current.IoStatus.Status = STATUS_SUCCESS;
        current.IoStatus.Information = sizeof(uint);
        KdPrint(("Complement: DpcForIsr completes %08X -> %08X\n", pdx.Input, pdx.Result));

        // Restart the device with the next request before completing this one; do not touch it afterwards.
        IoStartNextPacket(fdo, FALSE);
        IoCompleteRequest(current, IO_NO_INCREMENT);
    }

    /// <summary>SynchCritSection: TRUE, with the result taken, if the operation in progress has finished.</summary>
    private static bool TakeResult(object? SynchronizeContext)
    {
        var pdx = (DEVICE_EXTENSION)SynchronizeContext!;
        if (!pdx.OperationInProgress || READ_REGISTER_ULONG(pdx.Registers + SimulatedDevice.CountRegister) == pdx.CountAtStart)
        {
            return FALSE;
        }

        pdx.Result = READ_REGISTER_ULONG(pdx.Registers + SimulatedDevice.ResultRegister);
        pdx.OperationInProgress = FALSE;
        return TRUE;
    }
}
