namespace IrpLab;

/// <summary>
/// The definitions that Windows' user-mode and kernel-mode headers share (minwindef.h, winnt.h, devioctl.h):
/// TRUE and FALSE, the IOCTL code layout, the access bits both sides name. They live here once, so a file that
/// imports both <c>Wdm</c> and <c>Kernel32</c> (a test that drives a driver from an app) sees no ambiguous name.
/// The packages add <c>global using static IrpLab.WinNt;</c> to a project with implicit usings; elsewhere,
/// import it with <c>using static IrpLab.WinNt;</c>.
/// </summary>
public static class WinNt
{
    public const bool TRUE = true;
    public const bool FALSE = false;

    /// <summary>MAXIMUM_WAIT_OBJECTS.</summary>
    public const int MAXIMUM_WAIT_OBJECTS = 64;

    public const uint SYNCHRONIZE = 0x00100000;

    public const uint FILE_READ_DATA = 0x1;
    public const uint FILE_WRITE_DATA = 0x2;
    public const uint FILE_APPEND_DATA = 0x4;

    // ---------------------------------------------------------------- devioctl.h

    public const uint FILE_DEVICE_DISK = 0x7;
    public const uint FILE_DEVICE_FILE_SYSTEM = 0x9;
    public const uint FILE_DEVICE_NETWORK = 0x12;
    public const uint FILE_DEVICE_NULL = 0x15;
    public const uint FILE_DEVICE_SERIAL_PORT = 0x1B;
    public const uint FILE_DEVICE_UNKNOWN = 0x22;

    public const uint METHOD_BUFFERED = 0;
    public const uint METHOD_IN_DIRECT = 1;
    public const uint METHOD_OUT_DIRECT = 2;
    public const uint METHOD_NEITHER = 3;
    public const uint METHOD_DIRECT_TO_HARDWARE = METHOD_IN_DIRECT;
    public const uint METHOD_DIRECT_FROM_HARDWARE = METHOD_OUT_DIRECT;

    public const uint FILE_ANY_ACCESS = 0;
    public const uint FILE_SPECIAL_ACCESS = FILE_ANY_ACCESS;
    public const uint FILE_READ_ACCESS = 1;
    public const uint FILE_WRITE_ACCESS = 2;

    /// <summary>CTL_CODE(DeviceType, Function, Method, Access).</summary>
    public static uint CTL_CODE(uint DeviceType, uint Function, uint Method, uint Access)
        => (DeviceType << 16) | (Access << 14) | (Function << 2) | Method;

    /// <summary>DEVICE_TYPE_FROM_CTL_CODE.</summary>
    public static uint DEVICE_TYPE_FROM_CTL_CODE(uint ControlCode) => (ControlCode & 0xFFFF0000) >> 16;

    /// <summary>METHOD_FROM_CTL_CODE.</summary>
    public static uint METHOD_FROM_CTL_CODE(uint ControlCode) => ControlCode & 3;
}
