using static IrpLab.Kernel32;

namespace IrpLab.Tests.Io;

/// <summary>IRP stack geometry, filters and device stacks (nt-io-semantics §1.1, §3.2, §4.1).</summary>
public sealed class DeviceStackTests
{
    /// <summary>A buffered lower driver whose reads return "lower" (5 bytes).</summary>
    internal static TestDriver LoadLower(Machine m, string name = "Lower", uint flags = Wdm.DO_BUFFERED_IO)
    {
        var lower = new TestDriver(name) { DeviceFlags = flags }.On(Wdm.IRP_MJ_READ, (d, irp) =>
        {
            byte[] data = System.Text.Encoding.ASCII.GetBytes("lower");
            Wdm.RtlCopyMemory(irp.AssociatedIrp.SystemBuffer!, data, data.Length);
            return TestDriver.Complete(irp, NtStatus.STATUS_SUCCESS, (nuint)data.Length);
        });
        lower.Load(m);
        return lower;
    }

    internal static string ReadText(Handle h, uint length = 8)
    {
        byte[] buffer = new byte[length];
        uint n = 0;
        Assert.True(ReadFile(h, buffer, length, ref n, null), "ReadFile failed: " + GetLastError());
        return System.Text.Encoding.ASCII.GetString(buffer, 0, (int)n);
    }

    [Fact]
    public void IoAllocateIrp_OneLocation_CurrentLocationIsTwo()
    {
        using Machine m = TestMachines.Deterministic();
        (int current, int count, byte allocation, bool hasCurrent) = (0, 0, 0, true);
        m.RunKernel("allocate", () =>
        {
            Irp irp = Wdm.IoAllocateIrp(1, false);
            (current, count, allocation) = (irp.CurrentLocation, irp.StackCount, irp.AllocationFlags);
            hasCurrent = irp.CurrentStackLocation is not null;
            Wdm.IoFreeIrp(irp);
        });

        // §3.2 (Windows-validated): IoAllocateIrp(1) gives CurrentLocation 2 and IRP_ALLOCATED_FIXED_SIZE; there is
        // no current location yet, only a next one.
        Assert.Equal(2, current);
        Assert.Equal(1, count);
        Assert.Equal(Wdm.IRP_ALLOCATED_FIXED_SIZE, allocation & Wdm.IRP_ALLOCATED_FIXED_SIZE);
        Assert.False(hasCurrent);
    }

    [Fact]
    public void IoAttachDeviceToDeviceStack_Filter_StackSizeGrowsAndRequestsGoToTheTop()
    {
        using Machine m = TestMachines.Deterministic();
        TestDriver lower = LoadLower(m);
        var filter = new FilterDriver("Filter", lower.Device);
        filter.Load(m);
        string text = m.RunAndReturn(() =>
        {
            Handle h = OpenTests.Open(lower.Win32Name);
            string s = ReadText(h);
            CloseHandle(h);
            return s;
        });

        // §1.1: the new device's StackSize is the old top's + 1; a filter copies the buffering flags (§4.1).
        Assert.Same(lower.Device, filter.Lower);
        Assert.Equal(2, filter.Device.StackSize);
        Assert.Same(filter.Device, lower.Device.AttachedDevice);
        Assert.Equal(Wdm.DO_BUFFERED_IO, filter.Device.Flags & Wdm.DO_BUFFERED_IO);
        Assert.Equal("lower", text);

        // §1.3 item 6: every IRP goes to the top of the stack; FileObject->DeviceObject is the named device.
        Assert.Equal(filter.Log.Select(r => r.Major), lower.Log.Select(r => r.Major));
        Assert.Equal([Wdm.IRP_MJ_CREATE, Wdm.IRP_MJ_READ, Wdm.IRP_MJ_CLEANUP, Wdm.IRP_MJ_CLOSE], lower.Log.Select(r => r.Major));
        IrpRecord create = filter.Log[0];
        Assert.Same(lower.Device, create.FileObject!.DeviceObject);
        Assert.Same(filter.Device, Wdm.IoGetRelatedDeviceObject(create.FileObject));
        Assert.All(lower.Log, r => Assert.Equal(2, r.Irp.StackCount));
    }

    [Fact]
    public void IoSkipCurrentIrpStackLocation_LowerDriverReusesTheFiltersLocation()
    {
        using Machine m = TestMachines.Deterministic();
        var locations = new List<(string Who, int Location)>();
        var lower = new TestDriver("SkipLower").On(Wdm.IRP_MJ_DEVICE_CONTROL, (d, irp) =>
        {
            locations.Add(("lower", irp.CurrentLocation));
            return TestDriver.Complete(irp, NtStatus.STATUS_SUCCESS);
        });
        lower.Load(m);
        var filter = new FilterDriver("SkipFilter", lower.Device);
        filter.Dispatch = (d, irp) =>
        {
            locations.Add(("filter", irp.CurrentLocation));
            return filter.PassThrough(d, irp);
        };
        filter.Load(m);
        bool ok = m.RunAndReturn(() =>
        {
            Handle h = OpenTests.Open(lower.Win32Name);
            bool r = DeviceIoControl(h, TestIoctls.Buffered, null, 0, null, 0, null);
            CloseHandle(h);
            return r;
        });

        // §3.2: a skip moves the location back up, so IoCallDriver hands the lower driver the filter's own location.
        Assert.True(ok);
        Assert.Contains(("filter", 2), locations);
        Assert.Contains(("lower", 2), locations);
    }

    [Fact]
    public void IoCopyCurrentIrpStackLocationToNext_WithCompletionRoutine_RoutineGetsTheRegistrantsDeviceAndPostProcesses()
    {
        using Machine m = TestMachines.Deterministic();
        TestDriver lower = LoadLower(m, "CopyLower");
        var filter = new FilterDriver("CopyFilter", lower.Device);
        DeviceObject? routineDevice = null;
        int lowerLocation = 0;
        filter.Dispatch = (d, irp) =>
        {
            Wdm.IoCopyCurrentIrpStackLocationToNext(irp);
            if (Wdm.IoGetCurrentIrpStackLocation(irp).MajorFunction == Wdm.IRP_MJ_READ)
            {
                Wdm.IoSetCompletionRoutine(irp, (device, completed, context) =>
                {
                    routineDevice = device;
                    lowerLocation = (int)context!;
                    byte[] system = completed.AssociatedIrp.SystemBuffer!;
                    for (int i = 0; i < (int)completed.IoStatus.Information; i++)
                    {
                        system[i] = (byte)char.ToUpperInvariant((char)system[i]);
                    }

                    if (completed.PendingReturned)
                    {
                        Wdm.IoMarkIrpPending(completed);
                    }

                    return NtStatus.STATUS_CONTINUE_COMPLETION;
                }, irp.CurrentLocation - 1, true, true, true);
            }

            return Wdm.IoCallDriver(filter.Lower, irp);
        };
        filter.Load(m);
        string text = m.RunAndReturn(() =>
        {
            Handle h = OpenTests.Open(lower.Win32Name);
            string s = ReadText(h);
            CloseHandle(h);
            return s;
        });

        // §3.3: the DeviceObject passed to a completion routine is the registrant's; the routine runs before the
        // buffered copy-back, so its changes reach the caller.
        Assert.Equal("LOWER", text);
        Assert.Same(filter.Device, routineDevice);
        Assert.Equal(1, lowerLocation);
        Assert.All(lower.Of(Wdm.IRP_MJ_READ), r => Assert.Equal(2, r.Irp.StackCount));
    }

    [Fact]
    public void IoDetachDevice_FilterDetached_RequestsGoStraightToTheLowerDevice()
    {
        using Machine m = TestMachines.Deterministic();
        TestDriver lower = LoadLower(m, "DetachLower");
        var filter = new FilterDriver("DetachFilter", lower.Device);
        filter.Load(m);
        m.RunKernel("detach", () => Wdm.IoDetachDevice(filter.Lower));
        string text = m.RunAndReturn(() =>
        {
            Handle h = OpenTests.Open(lower.Win32Name);
            string s = ReadText(h);
            CloseHandle(h);
            return s;
        });

        Assert.Null(lower.Device.AttachedDevice);
        Assert.Same(lower.Device, Wdm.IoGetAttachedDevice(lower.Device));
        Assert.Equal("lower", text);
        Assert.Empty(filter.Log);
        Assert.All(lower.Log, r => Assert.Equal(1, r.Irp.StackCount));
    }
}
