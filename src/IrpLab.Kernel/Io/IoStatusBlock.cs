namespace IrpLab;

/// <summary>
/// IO_STATUS_BLOCK in the caller's memory: the I/O manager writes it at completion (or leaves it untouched, which
/// the behaviour tables depend on). kernel32's OVERLAPPED derives from it: Internal is Status, InternalHigh is
/// Information.
/// </summary>
public class IoStatusBlock
{
    public NtStatus Status;

    public nuint Information;

    public override string ToString() => $"{{{NtStatusClass.Format(Status)}, {Information}}}";
}

/// <summary>The IRP's own status block (Irp.IoStatus), a value inside the IRP.</summary>
public struct IoStatus
{
    public NtStatus Status;

    public nuint Information;

    public override readonly string ToString() => $"{{{NtStatusClass.Format(Status)}, {Information}}}";
}

/// <summary>IO_APC_ROUTINE: the native completion APC of NtReadFile &amp; co.</summary>
public delegate void IoApcRoutine(object? ApcContext, IoStatusBlock IoStatusBlock, uint Reserved);
