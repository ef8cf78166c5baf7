namespace IrpLab;

public static partial class Wdm
{
    /// <summary>*PsThreadType.</summary>
    public static ObjectType PsThreadType => ObjectType.Thread;

    /// <summary>*PsProcessType.</summary>
    public static ObjectType PsProcessType => ObjectType.Process;

    /// <summary>*ExEventObjectType.</summary>
    public static ObjectType ExEventObjectType => ObjectType.Event;

    /// <summary>*ExSemaphoreObjectType.</summary>
    public static ObjectType ExSemaphoreObjectType => ObjectType.Semaphore;

    /// <summary>*IoFileObjectType.</summary>
    public static ObjectType IoFileObjectType => ObjectType.File;

    /// <summary>*IoDeviceObjectType.</summary>
    public static ObjectType IoDeviceObjectType => ObjectType.Device;

    /// <summary>*IoDriverObjectType.</summary>
    public static ObjectType IoDriverObjectType => ObjectType.Driver;

    /// <summary>
    /// ObReferenceObjectByHandle: resolves a handle to its object and adds a reference (drop it with
    /// ObDereferenceObject). STATUS_INVALID_HANDLE, STATUS_OBJECT_TYPE_MISMATCH (also when the object is not a
    /// <typeparamref name="T"/>), or STATUS_ACCESS_DENIED for a user-mode request without the rights.
    /// </summary>
    public static NtStatus ObReferenceObjectByHandle<T>(Handle Handle, uint DesiredAccess, ObjectType? ObjectType, KProcessorMode AccessMode, out T Object, object? HandleInformation)
        where T : class?
    {
        KThread t = KThread.Current;
        KernelChecks.RequireIrql(t, IrqlLevel.Passive, "ObReferenceObjectByHandle");
        Object = null!;
        NtStatus status = t.Machine.Objects.ReferenceByHandle(Handle, DesiredAccess, ObjectType, AccessMode, out KernelObject? obj, out _);
        if (status != NtStatus.STATUS_SUCCESS)
        {
            return status;
        }

        if (obj is not T typed)
        {
            t.Machine.Objects.Dereference(obj!);
            return NtStatus.STATUS_OBJECT_TYPE_MISMATCH;
        }

        Object = typed;
        return NtStatus.STATUS_SUCCESS;
    }

    /// <summary>ObReferenceObject.</summary>
    public static void ObReferenceObject(KernelObject Object) => ObjectManager.Reference(Object);

    /// <summary>ObDereferenceObject: the last reference deletes the object.</summary>
    public static void ObDereferenceObject(KernelObject Object) => KThread.Current.Machine.Objects.Dereference(Object);

    /// <summary>ObfDereferenceObject.</summary>
    public static void ObfDereferenceObject(KernelObject Object) => ObDereferenceObject(Object);

    /// <summary>ZwClose: closes a handle of the current process (or a kernel handle).</summary>
    public static NtStatus ZwClose(Handle Handle)
    {
        KThread t = KThread.Current;
        KernelChecks.RequireIrql(t, IrqlLevel.Passive, "ZwClose");
        return t.Machine.Objects.CloseHandle(t.Process, Handle);
    }
}
