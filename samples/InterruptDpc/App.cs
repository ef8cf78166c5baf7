using IrpLab.Hardware;
using static IrpLab.Kernel32;

namespace IrpLab.Samples.InterruptDpc;

/// <summary>
/// Four overlapped IOCTLs sent at once. The device works on one at a time (half a second each) and interrupts when
/// done; each result is what the "hardware" computed: the bitwise complement of the value sent.
/// </summary>
public static class App
{
    public static int Main()
    {
        Handle hDevice = CreateFile(@"\\.\Complement", GENERIC_READ | GENERIC_WRITE, 0, null, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OVERLAPPED, NULL);
        if (hDevice == INVALID_HANDLE_VALUE)
        {
            printf("Open Device failed: %u\n", GetLastError());
            return 1;
        }

        uint[] values = [0x00000001, 0x12345678, 0xFFFF0000, 42];
        var overlap = new OVERLAPPED[values.Length];
        var output = new byte[values.Length][];
        bool ok = true;
        for (int i = 0; i < values.Length; i++)
        {
            overlap[i] = new OVERLAPPED { hEvent = CreateEvent(null, TRUE, FALSE, null) };
            output[i] = new byte[4];
            bool done = DeviceIoControl(hDevice, Driver.IOCTL_COMPLEMENT, BitConverter.GetBytes(values[i]), 4, output[i], 4, overlap[i]);
            ok &= !done && GetLastError() == ERROR_IO_PENDING;
            printf("IOCTL_COMPLEMENT(%08X): %s\n", values[i], !done && GetLastError() == ERROR_IO_PENDING ? "ERROR_IO_PENDING" : "unexpected");
        }

        uint start = GetTickCount();
        for (int i = 0; i < values.Length; i++)
        {
            uint bytes = 0;
            bool result = GetOverlappedResult(hDevice, overlap[i], ref bytes, TRUE);
            uint answer = BitConverter.ToUInt32(output[i], 0);
            printf("%08X -> %08X (%u bytes) after %u ms\n", values[i], answer, bytes, GetTickCount() - start);
            ok &= result && bytes == 4 && answer == ~values[i];
            CloseHandle(overlap[i].hEvent);
        }

        CloseHandle(hDevice);
        return ok ? 0 : 1;
    }
}

/// <summary>
/// Plugs the device in, assigns its resources to the driver (the PnP manager's job on Windows), loads the driver,
/// runs the app, unloads.
/// </summary>
public static class Host
{
    public const uint Vector = 0x31;
    public const byte DeviceIrql = 5;

    public static int Run(Machine machine)
    {
        ArgumentNullException.ThrowIfNull(machine);
        var hardware = new SimulatedDevice(machine, "complement0", Vector, KInterruptMode.Latched, operationTime: 5_000_000);
        var resources = new DeviceResources(hardware.Registers, hardware.Vector, DeviceIrql, hardware.InterruptMode, Affinity: ulong.MaxValue);
        machine.LoadDriver("Complement", Driver.WithResources(resources));
        int exit = machine.Run("app", App.Main);
        machine.UnloadDriver("Complement");
        return exit;
    }
}
