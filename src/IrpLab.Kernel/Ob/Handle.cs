using System.Globalization;

namespace IrpLab;

/// <summary>
/// A HANDLE: an index into a process's handle table (multiples of 4, as on Windows). Kernel handles
/// (OBJ_KERNEL_HANDLE) live in the System process's table and have the top bit set. -1 and -2 are the pseudo
/// handles of the current process and thread; -1 is also INVALID_HANDLE_VALUE where a file handle is expected.
/// </summary>
public readonly record struct Handle(nint Value)
{
    internal const long KernelHandleBit = unchecked((long)0xFFFF_FFFF_8000_0000);

    public static Handle Null => default;

    public bool IsNull => Value == 0;

    internal bool IsKernelHandle => Value < -2 && ((long)Value & KernelHandleBit) == KernelHandleBit;

    public override string ToString() => "0x" + ((ulong)Value).ToString("X", CultureInfo.InvariantCulture);
}
