namespace IrpLab;

/// <summary>IRPs that drivers build for other drivers, and device stacks.</summary>
internal sealed partial class IoManager
{
    public Irp BuildDeviceIoControlRequest(KThread t, uint code, DeviceObject device, byte[]? input, uint inputLength, byte[]? output, uint outputLength, bool internalControl, KEvent ev, IoStatusBlock iosb)
    {
        Irp irp = AllocateIrp(device.StackSize);
        irp.RequestorMode = KProcessorMode.KernelMode;
        irp.Flags = IRP_SYNCHRONOUS_API;
        irp.UserIosb = iosb;
        irp.UserEvent = ev;
        IoStackLocation next = irp.NextStackLocation!;
        next.MajorFunction = internalControl ? IRP_MJ_INTERNAL_DEVICE_CONTROL : IRP_MJ_DEVICE_CONTROL;
        var request = new IoRequest
        {
            Major = next.MajorFunction,
            IoControlCode = code,
            InputBuffer = input,
            InputLength = inputLength,
            OutputBuffer = output,
            OutputLength = outputLength,
        };
        BuildDeviceControl(t, irp, next, ref request);
        irp.Flags |= IRP_SYNCHRONOUS_API;

        // A threaded IRP: on the caller's IRP list, cancelled if the thread exits.
        QueueThreadIrp(t, irp);
        return irp;
    }

    public Irp BuildFsdRequest(KThread t, byte major, DeviceObject device, byte[]? buffer, uint length, LargeInteger? offset, KEvent? ev, IoStatusBlock? iosb, bool synchronous)
    {
        Irp irp = AllocateIrp(device.StackSize);
        irp.RequestorMode = KProcessorMode.KernelMode;
        irp.UserIosb = iosb;
        irp.UserEvent = ev;
        IoStackLocation next = irp.NextStackLocation!;
        next.MajorFunction = major;
        if (major is IRP_MJ_READ or IRP_MJ_WRITE)
        {
            bool read = major == IRP_MJ_READ;
            ReadWriteParameters parameters = read ? next.Parameters.Read : next.Parameters.Write;
            parameters.Length = length;
            parameters.ByteOffset = offset ?? default;
            SetUpReadWriteBuffer(t, device, irp, buffer, length, read);
        }

        if (synchronous)
        {
            irp.Flags |= IRP_SYNCHRONOUS_API;
            QueueThreadIrp(t, irp);
        }
        else
        {
            irp.Tail.Overlay.Thread = t;
        }

        return irp;
    }

    public DeviceObject? AttachDevice(DeviceObject source, DeviceObject target)
    {
        lock (_drivers)
        {
            DeviceObject top = AttachedTop(target);
            if (top.DeletePending || top.Deleted)
            {
                return null;
            }

            top.AttachedDevice = source;
            source.AttachedTo = top;
            source.StackSize = (sbyte)(top.StackSize + 1);
            return top;
        }
    }

    public void DetachDevice(DeviceObject target)
    {
        lock (_drivers)
        {
            if (target.AttachedDevice is DeviceObject above)
            {
                above.AttachedTo = null;
                target.AttachedDevice = null;
            }
        }
    }
}
