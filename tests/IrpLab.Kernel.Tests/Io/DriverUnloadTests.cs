using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Tests.Io;

/// <summary>
/// Driver unload (nt-io-semantics §8.3): the legacy deferred unload while a device is still referenced by a file
/// object, and DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS (0xCE) for IRPs the driver still holds.
/// </summary>
public sealed class DriverUnloadTests
{
    private static Machine NewMachine() => new(new MachineOptions { Deterministic = true, Seed = 1, MaxSteps = 500_000, CaptureTrace = true });

    /// <summary>Driver "Target" with an unload routine that records when it ran and deletes its link and device.</summary>
    private static TestDriver LoadTarget(Machine m, List<string> events)
    {
        var target = new TestDriver("Target")
            .On(IRP_MJ_CLEANUP, (d, irp) =>
            {
                events.Add("cleanup");
                return TestDriver.CompleteSuccess(d, irp);
            })
            .On(IRP_MJ_CLOSE, (d, irp) =>
            {
                events.Add("close");
                return TestDriver.CompleteSuccess(d, irp);
            });
        target.Load(m);
        target.Driver.DriverUnload = driver =>
        {
            events.Add("unload");
            IoDeleteSymbolicLink("\\DosDevices\\Target");
            IoDeleteDevice(driver.DeviceObject!);
        };
        return target;
    }

    [Fact]
    public void UnloadDriver_NoOpenFileObject_RunsTheUnloadRoutineAtOnce()
    {
        using Machine m = NewMachine();
        var events = new List<string>();
        LoadTarget(m, events);

        Assert.Equal(STATUS_SUCCESS, m.UnloadDriver("Target"));
        Assert.Equal(["unload"], events);
        Assert.Equal(STATUS_OBJECT_NAME_NOT_FOUND, m.UnloadDriver("Target"));
    }

    [Fact]
    public void UnloadDriver_DeviceReferencedByAFileObject_DeferredToTheLastReference()
    {
        using Machine m = NewMachine();
        var events = new List<string>();
        LoadTarget(m, events);

        // Client keeps a file object of \Device\Target (IoGetDeviceObjectPointer) until its own unload.
        FileObject? held = null;
        KmTest.RunAsDriver(m, "Client", client =>
        {
            Assert.Equal(STATUS_SUCCESS, IoGetDeviceObjectPointer("\\Device\\Target", FILE_READ_DATA, out FileObject fo, out _));
            held = fo;
            client.DriverUnload = _ => ObDereferenceObject(held!);
        });

        Assert.Equal(STATUS_PENDING, m.UnloadDriver("Target"));
        Assert.Empty(events);
        Assert.Equal(STATUS_PENDING, m.UnloadDriver("Target"));

        // Unload-pending: the device takes no new opens.
        NtStatus reopen = STATUS_SUCCESS;
        m.Kernel(() => reopen = IoGetDeviceObjectPointer("\\Device\\Target", FILE_READ_DATA, out _, out _));
        Assert.Equal(STATUS_NO_SUCH_DEVICE, reopen);

        // The last reference goes with Client's unload: cleanup and close reach Target, then its unload routine runs
        // (on a system thread of its own).
        Assert.Equal(STATUS_SUCCESS, m.UnloadDriver("Client"));
        m.Kernel(K.LetOthersRun);
        Assert.Equal(["cleanup", "close", "unload"], events);
        Assert.Null(m.BugCheck);
        Assert.Equal(STATUS_OBJECT_NAME_NOT_FOUND, m.UnloadDriver("Target"));
    }

    [Fact]
    public void UnloadDriver_IrpsInItsDeviceQueue_DriverUnloadedWithoutCancellingPendingOperations()
    {
        // Target serialises requests with StartIo and never finishes one; Client sends two IoAllocateIrp packets (on
        // no thread's IRP list): one becomes the device's CurrentIrp, the other waits in its device queue.
        using Machine m = NewMachine();
        var target = new TestDriver("Target").On(IRP_MJ_DEVICE_CONTROL, (d, irp) =>
        {
            IoMarkIrpPending(irp);
            IoStartPacket(d, irp, null, null);
            return STATUS_PENDING;
        });
        target.Load(m);
        target.Driver.DriverStartIo = (d, irp) => { };
        target.Driver.DriverUnload = driver => IoDeleteDevice(driver.DeviceObject!);
        var sent = new List<ulong>();
        KmTest.RunAsDriver(m, "Client", _ =>
        {
            for (int i = 0; i < 2; i++)
            {
                Irp irp = IoAllocateIrp(target.Device.StackSize, FALSE);
                sent.Add(irp.DebugAddress(irp.Machine));
                IoGetNextIrpStackLocation(irp).MajorFunction = IRP_MJ_DEVICE_CONTROL;
                IoSetCompletionRoutine(irp, (device, done, context) =>
                {
                    IoFreeIrp(done);
                    return STATUS_MORE_PROCESSING_REQUIRED;
                }, null, TRUE, TRUE, TRUE);
                Assert.Equal(STATUS_PENDING, IoCallDriver(target.Device, irp));
            }
        });

        BugCheckInfo stop = KmTest.BugCheck(() => m.UnloadDriver("Target"));

        Assert.Equal(BugCheckCatalogue.DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS, stop.Code);
        Assert.Equal(sent[0], stop.Parameter1);
        Assert.Equal("Target", stop.FaultingDriver);
        Assert.Contains("the current IRP of", stop.Diagnosis, StringComparison.Ordinal);
        Assert.Contains("queued in the device queue of", stop.Diagnosis, StringComparison.Ordinal);
    }
}
