using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Tests;

/// <summary>System threads, handles and references, and the namespace (nt-io-semantics §10.8, §1.1).</summary>
public sealed class ObjectManagerTests
{
    private static void Worker(KEvent go) => KeWaitForSingleObject(go, Executive, KernelMode, FALSE, null);

    [Fact]
    public void PsCreateSystemThread_ReferenceCloseAndWait_ThreadObjectSignalsWhenTheThreadEnds()
    {
        using Machine machine = TestMachine.Deterministic();
        NtStatus create = STATUS_PENDING, reference = STATUS_PENDING, close = STATUS_PENDING, wait = STATUS_PENDING;
        int stateWhileRunning = -1, stateAfter = -1;
        KThread? thread = null;
        bool isSystemThread = false;
        machine.Kernel(() =>
        {
            KEvent go = K.Event(NotificationEvent);
            create = PsCreateSystemThread(out Handle h, THREAD_ALL_ACCESS, null, null, null, Worker, go);

            // §10.8: convert the handle to an object pointer, then close it.
            reference = ObReferenceObjectByHandle(h, SYNCHRONIZE, PsThreadType, KernelMode, out thread, null);
            close = ZwClose(h);
            isSystemThread = PsIsSystemThread(thread!);
            stateWhileRunning = thread!.Header.SignalState;
            KeSetEvent(go, 0, FALSE);

            // A thread object is a dispatcher object signaled when the thread terminates.
            wait = KeWaitForSingleObject(thread, Executive, KernelMode, FALSE, null);
            stateAfter = thread.Header.SignalState;
            Assert.Equal(STATUS_SUCCESS, K.Poll(thread));
            ObDereferenceObject(thread);
        });

        Assert.Equal((STATUS_SUCCESS, STATUS_SUCCESS, STATUS_SUCCESS, STATUS_SUCCESS), (create, reference, close, wait));
        Assert.True(isSystemThread);
        Assert.Equal((0, 1), (stateWhileRunning, stateAfter));
        Assert.Equal(DispatcherObjectType.ThreadObject, thread!.Header.Type);
        Assert.Equal("Worker", thread.Name);
        Assert.Equal(machine.SystemProcess, thread.Process);
    }

    [Fact]
    public void ObReferenceObjectByHandle_WrongType_ReturnsObjectTypeMismatch()
    {
        using Machine machine = TestMachine.Deterministic();
        NtStatus byType = STATUS_PENDING, byClass = STATUS_PENDING, untyped = STATUS_PENDING;
        machine.Kernel(() =>
        {
            KEvent go = K.Event(NotificationEvent, state: TRUE);
            PsCreateSystemThread(out Handle h, THREAD_ALL_ACCESS, null, null, null, Worker, go);
            byType = ObReferenceObjectByHandle(h, SYNCHRONIZE, PsProcessType, KernelMode, out KProcess _, null);
            byClass = ObReferenceObjectByHandle(h, SYNCHRONIZE, null, KernelMode, out KEvent _, null);

            // ObjectType NULL = no type check.
            untyped = ObReferenceObjectByHandle(h, SYNCHRONIZE, null, KernelMode, out KernelObject o, null);
            K.WaitForever((KThread)o);
            ObDereferenceObject(o);
            ZwClose(h);
        });

        // §10.8: wrong type → STATUS_OBJECT_TYPE_MISMATCH (0xC0000024).
        Assert.Equal(STATUS_OBJECT_TYPE_MISMATCH, byType);
        Assert.Equal(STATUS_OBJECT_TYPE_MISMATCH, byClass);
        Assert.Equal(STATUS_SUCCESS, untyped);
    }

    [Fact]
    public void ObReferenceObjectByHandle_ClosedOrBogusHandle_ReturnsInvalidHandle()
    {
        using Machine machine = TestMachine.Deterministic();
        NtStatus afterClose = STATUS_PENDING, secondClose = STATUS_PENDING, bogus = STATUS_PENDING, nullHandle = STATUS_PENDING;
        machine.Kernel(() =>
        {
            KEvent go = K.Event(NotificationEvent, state: TRUE);
            PsCreateSystemThread(out Handle h, THREAD_ALL_ACCESS, null, null, null, Worker, go);
            Assert.Equal(STATUS_SUCCESS, ZwClose(h));
            afterClose = ObReferenceObjectByHandle(h, SYNCHRONIZE, PsThreadType, KernelMode, out KThread _, null);
            secondClose = ZwClose(h);
            bogus = ObReferenceObjectByHandle(new Handle(0x7FF4), SYNCHRONIZE, PsThreadType, KernelMode, out KThread _, null);
            nullHandle = ObReferenceObjectByHandle(Handle.Null, SYNCHRONIZE, null, KernelMode, out KernelObject _, null);
            K.LetOthersRun();
        });

        // §10.8: invalid handle → STATUS_INVALID_HANDLE (0xC0000008).
        Assert.Equal(STATUS_INVALID_HANDLE, afterClose);
        Assert.Equal(STATUS_INVALID_HANDLE, secondClose);
        Assert.Equal(STATUS_INVALID_HANDLE, bogus);
        Assert.Equal(STATUS_INVALID_HANDLE, nullHandle);
    }

    [Fact]
    public void ObReferenceObjectByHandle_KernelHandleFromUserModeAccess_ReturnsInvalidHandle()
    {
        using Machine machine = TestMachine.Deterministic();
        NtStatus status = STATUS_PENDING;
        machine.Kernel(() =>
        {
            KEvent go = K.Event(NotificationEvent, state: TRUE);
            PsCreateSystemThread(out Handle h, THREAD_ALL_ACCESS, null, null, null, Worker, go);
            status = ObReferenceObjectByHandle(h, SYNCHRONIZE, PsThreadType, UserMode, out KThread _, null);
            ZwClose(h);
        });

        Assert.Equal(STATUS_INVALID_HANDLE, status);
    }

    [Fact]
    public void PsTerminateSystemThread_EndsTheCallingThreadWithItsStatus()
    {
        using Machine machine = TestMachine.Deterministic();
        bool before = false, after = false;
        KThread? thread = null;
        NtStatus wait = STATUS_PENDING;
        machine.Kernel(() =>
        {
            thread = K.StartThread(() =>
            {
                before = true;
                PsTerminateSystemThread((NtStatus)0x12345);
                after = true;
            });
            wait = KeWaitForSingleObject(thread, Executive, KernelMode, FALSE, null);
            ObDereferenceObject(thread);
        });

        // §10.8: PsTerminateSystemThread terminates the calling thread and does not return.
        Assert.Equal(STATUS_SUCCESS, wait);
        Assert.True(before);
        Assert.False(after);
        Assert.Equal((NtStatus)0x12345, thread!.ExitStatus);
        Assert.Equal(MachineStopReason.None, machine.StopReason);
    }

    [Fact]
    public void PsTerminateSystemThread_FromAnApplicationThread_ReturnsInvalidParameter()
    {
        using Machine machine = TestMachine.Deterministic();
        NtStatus status = STATUS_PENDING;
        machine.Run("app", () => { status = PsTerminateSystemThread(STATUS_SUCCESS); });
        Assert.Equal(STATUS_INVALID_PARAMETER, status);
    }

    // ------------------------------------------------------------------ namespace

    [Fact]
    public void IoCreateSymbolicLink_DosDevicesName_ResolvesThroughQuestionMarksAndGlobal()
    {
        using Machine machine = TestMachine.Deterministic();
        DeviceObject? device = null;
        NtStatus link = STATUS_PENDING;
        NtStatus load = machine.LoadDriver("ObTest", (driver, registryPath) =>
        {
            NtStatus status = IoCreateDevice(driver, null, "\\Device\\ObTest", FILE_DEVICE_UNKNOWN, 0, FALSE, out device);
            if (!NT_SUCCESS(status))
            {
                return status;
            }

            link = IoCreateSymbolicLink("\\DosDevices\\ObTest", "\\Device\\ObTest");
            return link;
        });

        Assert.Equal(STATUS_SUCCESS, load);
        Assert.Equal(STATUS_SUCCESS, link);
        foreach (string path in new[] { "\\??\\ObTest", "\\GLOBAL??\\ObTest", "\\DosDevices\\ObTest", "\\??\\obtest", "\\Device\\ObTest", "\\??\\Global\\ObTest" })
        {
            Assert.Equal(STATUS_SUCCESS, machine.Objects.Lookup(path, out KernelObject? found, out string remaining));
            Assert.Same(device, found);
            Assert.Equal(string.Empty, remaining);
        }

        // The rest of the path is left for the device's parse routine.
        Assert.Equal(STATUS_SUCCESS, machine.Objects.Lookup("\\??\\ObTest\\sub\\file", out KernelObject? parsed, out string rest));
        Assert.Same(device, parsed);
        Assert.Equal("\\sub\\file", rest);
        Assert.Equal(STATUS_OBJECT_NAME_NOT_FOUND, machine.Objects.Lookup("\\??\\NoSuchName", out _, out _));
        Assert.Equal(STATUS_OBJECT_PATH_NOT_FOUND, machine.Objects.Lookup("\\NoSuchDirectory\\X", out _, out _));
    }

    [Fact]
    public void IoCreateSymbolicLinkAndIoCreateDevice_NameInUse_ReturnObjectNameCollision()
    {
        using Machine machine = TestMachine.Deterministic();
        NtStatus secondLink = STATUS_PENDING, linkViaGlobal = STATUS_PENDING, secondDevice = STATUS_PENDING, afterDelete = STATUS_PENDING;
        DeviceObject? duplicate = null;
        machine.LoadDriver("Dup", (driver, _) =>
        {
            IoCreateDevice(driver, null, "\\Device\\Dup", FILE_DEVICE_UNKNOWN, 0, FALSE, out DeviceObject _);
            Assert.Equal(STATUS_SUCCESS, IoCreateSymbolicLink("\\DosDevices\\Dup", "\\Device\\Dup"));
            secondLink = IoCreateSymbolicLink("\\DosDevices\\Dup", "\\Device\\Dup");
            linkViaGlobal = IoCreateSymbolicLink("\\GLOBAL??\\dup", "\\Device\\Dup");
            secondDevice = IoCreateDevice(driver, null, "\\Device\\Dup", FILE_DEVICE_UNKNOWN, 0, FALSE, out duplicate);

            Assert.Equal(STATUS_SUCCESS, IoDeleteSymbolicLink("\\??\\Dup"));
            afterDelete = IoCreateSymbolicLink("\\DosDevices\\Dup", "\\Device\\Dup");
            return STATUS_SUCCESS;
        });

        Assert.Equal(STATUS_OBJECT_NAME_COLLISION, secondLink);
        Assert.Equal(STATUS_OBJECT_NAME_COLLISION, linkViaGlobal);
        Assert.Equal(STATUS_OBJECT_NAME_COLLISION, secondDevice);
        Assert.Null(duplicate);
        Assert.Equal(STATUS_SUCCESS, afterDelete);
    }

    [Fact]
    public void IoDeleteSymbolicLink_RemovesOnlyTheLink()
    {
        using Machine machine = TestMachine.Deterministic();
        NtStatus missing = STATUS_PENDING;
        machine.LoadDriver("Del", (driver, _) =>
        {
            IoCreateDevice(driver, null, "\\Device\\Del", FILE_DEVICE_UNKNOWN, 0, FALSE, out DeviceObject _);
            IoCreateSymbolicLink("\\DosDevices\\Del", "\\Device\\Del");
            Assert.Equal(STATUS_SUCCESS, IoDeleteSymbolicLink("\\DosDevices\\Del"));
            missing = IoDeleteSymbolicLink("\\DosDevices\\Del");
            return STATUS_SUCCESS;
        });

        Assert.Equal(STATUS_OBJECT_NAME_NOT_FOUND, missing);
        Assert.Equal(STATUS_OBJECT_NAME_NOT_FOUND, machine.Objects.Lookup("\\??\\Del", out _, out _));
        Assert.Equal(STATUS_SUCCESS, machine.Objects.Lookup("\\Device\\Del", out _, out _));
    }
}
