namespace IrpLab;

/// <summary>
/// A buffer in a user process's memory, as METHOD_NEITHER hands it to a driver (Irp.UserBuffer,
/// Parameters.DeviceIoControl.Type3InputBuffer). It is only valid in the requesting process's context and only
/// after ProbeForRead / ProbeForWrite.
/// </summary>
public sealed class UserBuffer
{
    internal UserBuffer(byte[] memory, int length, KProcess owner)
    {
        Memory = memory;
        Length = length;
        Owner = owner;
    }

    /// <summary>The caller's bytes. With the verifier on, touching them unprobed or from another process stops the machine.</summary>
    public byte[] Array
    {
        get
        {
            IoVerifier.OnUserBufferAccess(this);
            return Memory;
        }
    }

    /// <summary>The length the caller passed.</summary>
    public int Length { get; }

    internal byte[] Memory { get; }

    internal KProcess Owner { get; }

    internal bool ProbedForRead;

    internal bool ProbedForWrite;

    /// <summary>The driver writes this buffer (a read's or an IOCTL's output); otherwise it reads it.</summary>
    internal bool IsOutput { get; init; }

    private long _debugId;

    /// <summary>A stable pseudo user-mode address for bug check parameters (assigned on first use).</summary>
    internal ulong DebugAddress(Machine machine)
    {
        if (_debugId == 0)
        {
            _debugId = machine.NextDebugId();
        }

        return 0x0000_0000_1000_0000UL + ((ulong)_debugId << 12);
    }
}

/// <summary>
/// MDL: describes the caller's buffer for direct I/O. The pages are "locked" for the I/O; the driver maps them with
/// MmGetSystemAddressForMdlSafe and writes land in the caller's buffer at once.
/// </summary>
public sealed class Mdl
{
    internal Mdl(byte[] buffer, int length, bool forWrite)
    {
        Buffer = buffer;
        ByteCount = length;
        ForWrite = forWrite;
    }

    /// <summary>The next MDL of a chain.</summary>
    public Mdl? Next { get; internal set; }

    internal byte[] Buffer { get; }

    internal int ByteCount { get; }

    internal bool ForWrite { get; }
}
