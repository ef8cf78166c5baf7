namespace IrpLab;

/// <summary>
/// OVERLAPPED: an IO_STATUS_BLOCK (Internal = Status, InternalHigh = Information) plus the offset and an event.
/// kernel32 passes it to the native service as the status block and, normally, as the APC context (what a
/// completion port hands back as lpOverlapped). It must stay untouched until the operation completes.
/// </summary>
public class OVERLAPPED : IoStatusBlock
{
    public uint Offset;

    public uint OffsetHigh;

    /// <summary>An event to signal at completion; with its low bit set, no completion packet is queued.</summary>
    public Handle hEvent;

    /// <summary>The status (NTSTATUS), STATUS_PENDING while the I/O is in flight.</summary>
    public nuint Internal
    {
        get => (nuint)(uint)Status;
        set => Status = (NtStatus)(uint)value;
    }

    /// <summary>The byte count.</summary>
    public nuint InternalHigh
    {
        get => Information;
        set => Information = value;
    }

    internal long ByteOffset => ((long)OffsetHigh << 32) | Offset;
}
