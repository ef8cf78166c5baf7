using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Tests.Io;

/// <summary>Machines for the I/O tests: deterministic, seed 1, virtual time.</summary>
internal static class TestMachines
{
    public static Machine Deterministic(bool verifier = true)
        => new(new MachineOptions { Deterministic = true, Seed = 1, Verifier = verifier });
}

/// <summary>IOCTL codes the test drivers understand.</summary>
internal static class TestIoctls
{
    public static readonly uint Buffered = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x800, METHOD_BUFFERED, FILE_ANY_ACCESS);
    public static readonly uint BufferedRead = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x801, METHOD_BUFFERED, FILE_READ_ACCESS);
    public static readonly uint BufferedWrite = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x802, METHOD_BUFFERED, FILE_WRITE_ACCESS);
    public static readonly uint Unknown = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x8FF, METHOD_BUFFERED, FILE_ANY_ACCESS);
}

/// <summary>What a test driver saw: one IRP arriving at a dispatch routine.</summary>
internal sealed record IrpRecord(byte Major, FileObject? FileObject, int ThreadId, KProcess Process, long Time, byte Irql, Irp Irp);

/// <summary>
/// A small configurable driver for the I/O tests. It creates \Device\Name with a \DosDevices\Name link, records
/// every IRP that reaches it, and completes create/cleanup/close with STATUS_SUCCESS unless a test supplies its
/// own routine. Majors with no routine fall to the I/O manager's default (STATUS_INVALID_DEVICE_REQUEST).
/// </summary>
internal sealed class TestDriver
{
    private readonly Lock _lock = new();
    private readonly List<IrpRecord> _log = [];
    private readonly Dictionary<byte, DriverDispatch> _handlers = [];

    public TestDriver(string name)
    {
        Name = name;
        _handlers[IRP_MJ_CREATE] = CompleteSuccess;
        _handlers[IRP_MJ_CLEANUP] = CompleteSuccess;
        _handlers[IRP_MJ_CLOSE] = CompleteSuccess;
    }

    public string Name { get; }

    public string DeviceName => "\\Device\\" + Name;

    public string Win32Name => "\\\\.\\" + Name;

    /// <summary>DO_* flags OR-ed into the device (buffering method); buffered by default.</summary>
    public uint DeviceFlags { get; init; } = DO_BUFFERED_IO;

    public bool Exclusive { get; init; }

    public DriverObject Driver { get; private set; } = null!;

    public DeviceObject Device { get; private set; } = null!;

    /// <summary>Sets (or, with null, removes) the routine for a major function. Call before <see cref="Load"/>.</summary>
    public TestDriver On(byte major, DriverDispatch? routine)
    {
        if (routine is null)
        {
            _handlers.Remove(major);
        }
        else
        {
            _handlers[major] = routine;
        }

        return this;
    }

    public IrpRecord[] Log
    {
        get
        {
            lock (_lock)
            {
                return [.. _log];
            }
        }
    }

    public int Count(byte major) => Log.Count(r => r.Major == major);

    public IrpRecord[] Of(byte major) => [.. Log.Where(r => r.Major == major)];

    public void Load(Machine machine) => Assert.Equal(STATUS_SUCCESS, machine.LoadDriver(Name, DriverEntry));

    public NtStatus DriverEntry(DriverObject DriverObject, UnicodeString RegistryPath)
    {
        Driver = DriverObject;
        NtStatus status = IoCreateDevice(DriverObject, null, DeviceName, FILE_DEVICE_UNKNOWN, 0, Exclusive, out DeviceObject device);
        if (!NT_SUCCESS(status))
        {
            return status;
        }

        Device = device;
        device.Flags |= DeviceFlags;
        foreach ((byte major, DriverDispatch handler) in _handlers)
        {
            DriverObject.MajorFunction[major] = Recording(handler);
        }

        return IoCreateSymbolicLink("\\DosDevices\\" + Name, DeviceName);
    }

    /// <summary>Wraps a dispatch routine so that every IRP it receives is logged first.</summary>
    public DriverDispatch Recording(DriverDispatch handler) => (device, irp) =>
    {
        Record(irp);
        return handler(device, irp);
    };

    public void Record(Irp irp)
    {
        IoStackLocation location = IoGetCurrentIrpStackLocation(irp);
        KThread thread = PsGetCurrentThread();
        var record = new IrpRecord(location.MajorFunction, location.FileObject, thread.Id, PsGetCurrentProcess(), (long)KeQueryInterruptTime(), KeGetCurrentIrql(), irp);
        lock (_lock)
        {
            _log.Add(record);
        }
    }

    public static NtStatus CompleteSuccess(DeviceObject device, Irp irp) => Complete(irp, STATUS_SUCCESS);

    public static NtStatus Complete(Irp irp, NtStatus status, nuint information = 0)
    {
        irp.IoStatus.Status = status;
        irp.IoStatus.Information = information;
        IoCompleteRequest(irp, IO_NO_INCREMENT);
        return status;
    }

    /// <summary>
    /// Marks the IRP pending and hands it to a new system thread that waits <paramref name="delayMs"/> of virtual
    /// time, runs <paramref name="finish"/> (which fills in IoStatus) and completes the IRP. Returns STATUS_PENDING.
    /// </summary>
    public static NtStatus PendAndComplete(Irp irp, long delayMs, Action<Irp> finish)
    {
        IoMarkIrpPending(irp);
        NtStatus status = PsCreateSystemThread(out Handle thread, THREAD_ALL_ACCESS, null, null, null, (Irp pending) =>
        {
            KeDelayExecutionThread(KernelMode, FALSE, RELATIVE(MILLISECONDS(delayMs)));
            finish(pending);
            IoCompleteRequest(pending, IO_NO_INCREMENT);
        }, irp);
        Assert.Equal(STATUS_SUCCESS, status);
        ZwClose(thread);
        return STATUS_PENDING;
    }

    /// <summary>Virtual milliseconds since boot, as a driver sees them.</summary>
    public static long NowMs() => (long)KeQueryInterruptTime() / 10_000;
}

/// <summary>Hosting helpers.</summary>
internal static class MachineTestExtensions
{
    /// <summary>Runs <paramref name="body"/> as the main thread of a new process and returns what it returned.</summary>
    public static T RunAndReturn<T>(this Machine machine, Func<T> body)
    {
        T result = default!;
        machine.Run("app", () =>
        {
            result = body();
        });
        return result;
    }
}
