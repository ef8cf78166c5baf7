using System.Buffers.Binary;
using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Tests.Conformance;

/// <summary>How the conformance driver finishes a request.</summary>
public enum CompletionMode : byte
{
    /// <summary>Complete in the dispatch routine and return the final status.</summary>
    Immediate = 0,

    /// <summary>IoMarkIrpPending, complete in the dispatch routine, return STATUS_PENDING.</summary>
    PendInline = 1,

    /// <summary>IoMarkIrpPending, return STATUS_PENDING; a system thread completes one virtual second later.</summary>
    PendLater = 2,

    /// <summary>Complete with one status and return another (a driver bug; needs the verifier off).</summary>
    ReturnOther = 3,
}

/// <summary>
/// A device whose IOCTLs (one per transfer method) finish as the caller's input says: completion mode, final
/// status, and (for ReturnOther) the status to return. Whatever the method, the driver writes "ghijkl" where the
/// method lets it write output and reports Information = 3 — the experiment of Wine's Windows-validated
/// do_return_status test (nt-io-semantics §4.3, §5.4).
/// </summary>
public static class ConformanceDriver
{
    public const string DeviceName = "\\Device\\Conform";
    public const string LinkName = "\\DosDevices\\Conform";
    public const int InputLength = 9;

    public static uint Ioctl(uint method) => CTL_CODE(FILE_DEVICE_UNKNOWN, 0x900, method, FILE_ANY_ACCESS);

    public static byte[] Input(CompletionMode mode, NtStatus final, NtStatus returned)
    {
        byte[] input = new byte[InputLength];
        input[0] = (byte)mode;
        BinaryPrimitives.WriteInt32LittleEndian(input.AsSpan(1), (int)final);
        BinaryPrimitives.WriteInt32LittleEndian(input.AsSpan(5), (int)returned);
        return input;
    }

    public static NtStatus DriverEntry(DriverObject driver, UnicodeString registryPath)
    {
        NtStatus status = IoCreateDevice(driver, null, DeviceName, FILE_DEVICE_UNKNOWN, 0, FALSE, out DeviceObject device);
        if (!NT_SUCCESS(status))
        {
            return status;
        }

        device.Flags |= DO_BUFFERED_IO;
        driver.MajorFunction[IRP_MJ_CREATE] = Succeed;
        driver.MajorFunction[IRP_MJ_CLOSE] = Succeed;
        driver.MajorFunction[IRP_MJ_CLEANUP] = Succeed;
        driver.MajorFunction[IRP_MJ_DEVICE_CONTROL] = DeviceControl;
        return IoCreateSymbolicLink(LinkName, DeviceName);
    }

    private static NtStatus Succeed(DeviceObject device, Irp irp)
    {
        irp.IoStatus.Status = STATUS_SUCCESS;
        irp.IoStatus.Information = 0;
        IoCompleteRequest(irp, IO_NO_INCREMENT);
        return STATUS_SUCCESS;
    }

    private static NtStatus DeviceControl(DeviceObject device, Irp irp)
    {
        IoStackLocation location = IoGetCurrentIrpStackLocation(irp);
        uint method = METHOD_FROM_CTL_CODE(location.Parameters.DeviceIoControl.IoControlCode);
        uint outLength = location.Parameters.DeviceIoControl.OutputBufferLength;

        // Read the instructions first: with METHOD_BUFFERED the output overwrites the input in the system buffer.
        byte[] input;
        if (method == METHOD_NEITHER)
        {
            UserBuffer type3 = location.Parameters.DeviceIoControl.Type3InputBuffer!;
            ProbeForRead(type3, InputLength, 1);
            input = type3.Array;
        }
        else
        {
            input = irp.AssociatedIrp.SystemBuffer!;
        }

        var mode = (CompletionMode)input[0];
        var final = (NtStatus)BinaryPrimitives.ReadInt32LittleEndian(input.AsSpan(1));
        var returned = (NtStatus)BinaryPrimitives.ReadInt32LittleEndian(input.AsSpan(5));

        byte[] text = "ghijkl"u8.ToArray();
        byte[] output = method switch
        {
            METHOD_BUFFERED => irp.AssociatedIrp.SystemBuffer!,
            METHOD_IN_DIRECT or METHOD_OUT_DIRECT => MmGetSystemAddressForMdlSafe(irp.MdlAddress!, NormalPagePriority),
            _ => WritableUserBuffer(irp.UserBuffer!, outLength),
        };
        RtlCopyMemory(output, text, text.Length);
        irp.IoStatus.Information = 3;
        irp.IoStatus.Status = final;

        switch (mode)
        {
            case CompletionMode.Immediate:
                IoCompleteRequest(irp, IO_NO_INCREMENT);
                return final;
            case CompletionMode.PendInline:
                IoMarkIrpPending(irp);
                IoCompleteRequest(irp, IO_NO_INCREMENT);
                return STATUS_PENDING;
            case CompletionMode.PendLater:
                IoMarkIrpPending(irp);
                PsCreateSystemThread(out Handle thread, THREAD_ALL_ACCESS, null, null, null, CompleteLater, irp);
                ZwClose(thread);
                return STATUS_PENDING;
            default:
                IoCompleteRequest(irp, IO_NO_INCREMENT);
                return returned;
        }
    }

    private static byte[] WritableUserBuffer(UserBuffer buffer, uint length)
    {
        ProbeForWrite(buffer, length, 1);
        return buffer.Array;
    }

    private static void CompleteLater(Irp irp)
    {
        KeDelayExecutionThread(KernelMode, FALSE, RELATIVE(SECONDS(1)));
        IoCompleteRequest(irp, IO_NO_INCREMENT);
    }
}
