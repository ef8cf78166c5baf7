namespace IrpLab;

/// <summary>
/// IO_STACK_LOCATION: one driver's view of an IRP. The Parameters union of C is a set of views here; all of them
/// exist, and the major function says which one is meaningful.
/// </summary>
public sealed class IoStackLocation
{
    public byte MajorFunction;

    public byte MinorFunction;

    /// <summary>SL_* request flags.</summary>
    public byte Flags;

    /// <summary>SL_PENDING_RETURNED, SL_ERROR_RETURNED, SL_INVOKE_ON_*.</summary>
    public byte Control;

    public IoStackParameters Parameters { get; } = new();

    public DeviceObject? DeviceObject;

    public FileObject? FileObject;

    public IoCompletionRoutine? CompletionRoutine;

    public object? Context;

    /// <summary>Copies everything but the completion routine and context (IoCopyCurrentIrpStackLocationToNext).</summary>
    internal void CopyFrom(IoStackLocation source)
    {
        MajorFunction = source.MajorFunction;
        MinorFunction = source.MinorFunction;
        Flags = source.Flags;
        Control = source.Control;
        Parameters.CopyFrom(source.Parameters);
        DeviceObject = source.DeviceObject;
        FileObject = source.FileObject;
    }

    internal void Clear()
    {
        MajorFunction = 0;
        MinorFunction = 0;
        Flags = 0;
        Control = 0;
        Parameters.Clear();
        DeviceObject = null;
        FileObject = null;
        CompletionRoutine = null;
        Context = null;
    }
}

/// <summary>The Parameters union of IO_STACK_LOCATION.</summary>
public sealed class IoStackParameters
{
    public CreateParameters Create { get; } = new();

    public ReadWriteParameters Read { get; } = new();

    public ReadWriteParameters Write { get; } = new();

    public DeviceIoControlParameters DeviceIoControl { get; } = new();

    public OtherParameters Others { get; } = new();

    internal void CopyFrom(IoStackParameters source)
    {
        Create.CopyFrom(source.Create);
        Read.CopyFrom(source.Read);
        Write.CopyFrom(source.Write);
        DeviceIoControl.CopyFrom(source.DeviceIoControl);
        Others.CopyFrom(source.Others);
    }

    internal void Clear()
    {
        Create.CopyFrom(CreateParameters.Empty);
        Read.CopyFrom(ReadWriteParameters.Empty);
        Write.CopyFrom(ReadWriteParameters.Empty);
        DeviceIoControl.CopyFrom(DeviceIoControlParameters.Empty);
        Others.CopyFrom(OtherParameters.Empty);
    }
}

/// <summary>Parameters.Create.</summary>
public sealed class CreateParameters
{
    internal static readonly CreateParameters Empty = new();

    /// <summary>SecurityContext->DesiredAccess.</summary>
    public uint DesiredAccess;

    /// <summary>(CreateDisposition &lt;&lt; 24) | CreateOptions.</summary>
    public uint Options;

    public uint FileAttributes;

    public uint ShareAccess;

    public uint EaLength;

    internal void CopyFrom(CreateParameters s)
    {
        DesiredAccess = s.DesiredAccess;
        Options = s.Options;
        FileAttributes = s.FileAttributes;
        ShareAccess = s.ShareAccess;
        EaLength = s.EaLength;
    }
}

/// <summary>Parameters.Read / Parameters.Write.</summary>
public sealed class ReadWriteParameters
{
    internal static readonly ReadWriteParameters Empty = new();

    public uint Length;

    public uint Key;

    public LargeInteger ByteOffset;

    internal void CopyFrom(ReadWriteParameters s)
    {
        Length = s.Length;
        Key = s.Key;
        ByteOffset = s.ByteOffset;
    }
}

/// <summary>Parameters.DeviceIoControl.</summary>
public sealed class DeviceIoControlParameters
{
    internal static readonly DeviceIoControlParameters Empty = new();

    public uint OutputBufferLength;

    public uint InputBufferLength;

    public uint IoControlCode;

    /// <summary>METHOD_NEITHER: the caller's raw input buffer.</summary>
    public UserBuffer? Type3InputBuffer;

    internal void CopyFrom(DeviceIoControlParameters s)
    {
        OutputBufferLength = s.OutputBufferLength;
        InputBufferLength = s.InputBufferLength;
        IoControlCode = s.IoControlCode;
        Type3InputBuffer = s.Type3InputBuffer;
    }
}

/// <summary>Parameters.Others.Argument1..4.</summary>
public sealed class OtherParameters
{
    internal static readonly OtherParameters Empty = new();

    public object? Argument1;

    public object? Argument2;

    public object? Argument3;

    public object? Argument4;

    internal void CopyFrom(OtherParameters s)
    {
        Argument1 = s.Argument1;
        Argument2 = s.Argument2;
        Argument3 = s.Argument3;
        Argument4 = s.Argument4;
    }
}
