using System.Globalization;

namespace IrpLab;

/// <summary>An object type of the object manager (OBJECT_TYPE): its name and the rights its handles can carry.</summary>
public sealed class ObjectType
{
    internal ObjectType(string name, uint validAccessMask)
    {
        Name = name;
        ValidAccessMask = validAccessMask;
    }

    public string Name { get; }

    internal uint ValidAccessMask { get; }

    public override string ToString() => Name;

    internal static readonly ObjectType Event = new("Event", 0x1F0003);
    internal static readonly ObjectType Semaphore = new("Semaphore", 0x1F0003);
    internal static readonly ObjectType Mutant = new("Mutant", 0x1F0001);
    internal static readonly ObjectType Thread = new("Thread", 0x1FFFFF);
    internal static readonly ObjectType Process = new("Process", 0x1FFFFF);
    internal static readonly ObjectType Timer = new("Timer", 0x1F0003);
    internal static readonly ObjectType File = new("File", 0x1F01FF);
    internal static readonly ObjectType Device = new("Device", 0x1F01FF);
    internal static readonly ObjectType Driver = new("Driver", 0x1F01FF);
    internal static readonly ObjectType SymbolicLink = new("SymbolicLink", 0xF0001);
    internal static readonly ObjectType Directory = new("Directory", 0xF000F);
    internal static readonly ObjectType IoCompletion = new("IoCompletion", 0x1F0003);
    internal static readonly ObjectType SpinLock = new("SpinLock", 0);
    internal static readonly ObjectType Irp = new("Irp", 0);
    internal static readonly ObjectType Dpc = new("Dpc", 0);
}

/// <summary>
/// The object manager's view of an object (its OBJECT_HEADER): reference and handle counts, a name in the
/// namespace, a stable debug address. Objects a driver embeds in its own memory (a KEVENT in a device extension)
/// derive from this too but never get handles, so their counts stay at zero.
/// </summary>
public abstract class KernelObject
{
    private long _debugId;

    /// <summary>References: one per handle plus one per ObReferenceObject. Guarded by the object manager.</summary>
    internal int PointerCount;

    internal int HandleCount;

    internal string? ObjectName;

    internal ObjectDirectory? ParentDirectory;

    /// <summary>True for objects the object manager created (handles and references are counted).</summary>
    internal bool IsManaged;

    internal abstract ObjectType Type { get; }

    /// <summary>
    /// A stable pseudo address for traces and bug check parameters. Assigned on first use from the machine's
    /// counter, so a deterministic run gives every object the same address.
    /// </summary>
    internal ulong DebugAddress(Machine machine)
    {
        if (_debugId == 0)
        {
            _debugId = machine.NextDebugId();
        }

        return 0xFFFF_A000_0000_0000UL + ((ulong)_debugId << 4);
    }

    internal string DebugName(Machine machine)
        => ObjectName is null
            ? string.Create(CultureInfo.InvariantCulture, $"{Type.Name} {DebugAddress(machine):X}")
            : string.Create(CultureInfo.InvariantCulture, $"{Type.Name} {ObjectName}");

    /// <summary>The last handle was closed (IRP_MJ_CLEANUP for a file object). Runs in the closer's context.</summary>
    internal virtual void OnLastHandleClosed()
    {
    }

    /// <summary>The last reference was released (IRP_MJ_CLOSE for a file object).</summary>
    internal virtual void OnDelete()
    {
    }
}
