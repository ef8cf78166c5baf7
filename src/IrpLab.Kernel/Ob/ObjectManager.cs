namespace IrpLab;

/// <summary>
/// The object manager: the namespace (\Device, \Driver, \GLOBAL?? with \?? and \DosDevices linked to it,
/// \BaseNamedObjects), handles, and reference counting. Deleting an object (its last reference gone) and closing
/// its last handle call back into the object's type (for a file object: IRP_MJ_CLOSE and IRP_MJ_CLEANUP).
/// </summary>
internal sealed class ObjectManager
{
    private const int MaxReparse = 32;

    private readonly Machine _machine;
    private readonly Lock _lock = new();
    private readonly ObjectDirectory _root = new() { ObjectName = "\\" };

    public ObjectManager(Machine machine)
    {
        _machine = machine;
        AddDirectory("Device");
        AddDirectory("Driver");
        AddDirectory("GLOBAL??");
        AddDirectory("BaseNamedObjects");
        AddDirectory("KernelObjects");
        _root.TryAdd("??", new SymbolicLinkObject("\\GLOBAL??") { ObjectName = "??" });
        _root.TryAdd("DosDevices", new SymbolicLinkObject("\\??") { ObjectName = "DosDevices" });
        Insert("\\GLOBAL??\\Global", new SymbolicLinkObject("\\GLOBAL??"));

        // Win32 names "Global\X" and "Local\X" resolve through links in \BaseNamedObjects. The machine has one
        // session, so both lead back to \BaseNamedObjects, as they do for a session-0 process.
        Insert("\\BaseNamedObjects\\Global", new SymbolicLinkObject("\\BaseNamedObjects"));
        Insert("\\BaseNamedObjects\\Local", new SymbolicLinkObject("\\BaseNamedObjects"));
    }

    private void AddDirectory(string name)
    {
        var dir = new ObjectDirectory { ObjectName = name, ParentDirectory = _root };
        _root.TryAdd(name, dir);
    }

    /// <summary>Inserts a named object. The parent path may go through symbolic links.</summary>
    public NtStatus Insert(string path, KernelObject obj)
    {
        int slash = path.LastIndexOf('\\');
        if (slash < 0 || slash == path.Length - 1)
        {
            return NtStatus.STATUS_OBJECT_NAME_INVALID;
        }

        string parentPath = slash == 0 ? "\\" : path[..slash];
        string name = path[(slash + 1)..];
        lock (_lock)
        {
            NtStatus status = LookupLocked(parentPath, out KernelObject? parent, out string remaining, 0);
            if (status != NtStatus.STATUS_SUCCESS)
            {
                return status == NtStatus.STATUS_OBJECT_NAME_NOT_FOUND ? NtStatus.STATUS_OBJECT_PATH_NOT_FOUND : status;
            }

            if (parent is not ObjectDirectory dir || remaining.Length > 0)
            {
                return NtStatus.STATUS_OBJECT_PATH_NOT_FOUND;
            }

            if (!dir.TryAdd(name, obj))
            {
                return NtStatus.STATUS_OBJECT_NAME_COLLISION;
            }

            obj.ObjectName = name;
            obj.ParentDirectory = dir;
            return NtStatus.STATUS_SUCCESS;
        }
    }

    /// <summary>Removes a named object from its directory (IoDeleteDevice, IoDeleteSymbolicLink, last handle of a named event).</summary>
    public void RemoveName(KernelObject obj)
    {
        lock (_lock)
        {
            if (obj.ParentDirectory is ObjectDirectory dir && obj.ObjectName is string name
                && dir.TryGet(name, out KernelObject? current) && current == obj)
            {
                dir.Remove(name);
            }

            obj.ParentDirectory = null;
        }
    }

    /// <summary>
    /// Resolves a path, following symbolic links. For a leaf object that is not a directory (a device), the rest
    /// of the path is returned in <paramref name="remaining"/> ("\sub\path", or empty) for its parse routine.
    /// </summary>
    public NtStatus Lookup(string path, out KernelObject? obj, out string remaining)
    {
        lock (_lock)
        {
            return LookupLocked(path, out obj, out remaining, 0);
        }
    }

    /// <summary>Finds a symbolic link object by its exact path, without following the last component.</summary>
    public SymbolicLinkObject? FindLink(string path)
    {
        int slash = path.LastIndexOf('\\');
        if (slash < 0)
        {
            return null;
        }

        lock (_lock)
        {
            string parentPath = slash == 0 ? "\\" : path[..slash];
            if (LookupLocked(parentPath, out KernelObject? parent, out string rest, 0) == NtStatus.STATUS_SUCCESS
                && parent is ObjectDirectory dir && rest.Length == 0
                && dir.TryGet(path[(slash + 1)..], out KernelObject? o))
            {
                return o as SymbolicLinkObject;
            }
        }

        return null;
    }

    private NtStatus LookupLocked(string path, out KernelObject? obj, out string remaining, int depth)
    {
        obj = null;
        remaining = string.Empty;
        if (depth > MaxReparse)
        {
            return NtStatus.STATUS_OBJECT_NAME_NOT_FOUND;
        }

        if (path.Length == 0 || path[0] != '\\')
        {
            return NtStatus.STATUS_OBJECT_NAME_INVALID;
        }

        KernelObject current = _root;
        int position = 1;
        while (position < path.Length)
        {
            int end = path.IndexOf('\\', position);
            if (end < 0)
            {
                end = path.Length;
            }

            string name = path[position..end];
            bool last = end >= path.Length;
            if (name.Length == 0)
            {
                return NtStatus.STATUS_OBJECT_NAME_INVALID;
            }

            if (current is not ObjectDirectory dir)
            {
                break;
            }

            if (!dir.TryGet(name, out KernelObject? child) || child is null)
            {
                return last ? NtStatus.STATUS_OBJECT_NAME_NOT_FOUND : NtStatus.STATUS_OBJECT_PATH_NOT_FOUND;
            }

            if (child is SymbolicLinkObject link)
            {
                string rest = last ? string.Empty : path[end..];
                return LookupLocked(link.Target + rest, out obj, out remaining, depth + 1);
            }

            current = child;
            position = end + 1;
            if (last)
            {
                position = path.Length;
            }
            else if (current is not ObjectDirectory)
            {
                remaining = path[end..];
                obj = current;
                return NtStatus.STATUS_SUCCESS;
            }
        }

        obj = current;
        return NtStatus.STATUS_SUCCESS;
    }

    public static void Reference(KernelObject obj) => Interlocked.Increment(ref obj.PointerCount);

    /// <summary>Drops a reference; the last one deletes the object (for a file object: IRP_MJ_CLOSE).</summary>
    public void Dereference(KernelObject obj)
    {
        int count;
        do
        {
            count = Volatile.Read(ref obj.PointerCount);
            if (count <= 0)
            {
                return;
            }
        }
        while (Interlocked.CompareExchange(ref obj.PointerCount, count - 1, count) != count);

        if (count == 1 && obj.IsManaged)
        {
            if (obj.ParentDirectory is not null)
            {
                RemoveName(obj);
            }

            obj.OnDelete();
        }
    }

    public static void AddHandleCount(KernelObject obj)
    {
        Interlocked.Increment(ref obj.HandleCount);
        Interlocked.Increment(ref obj.PointerCount);
    }

    /// <summary>Creates a handle in <paramref name="process"/>'s table (kernel handles for the System process).</summary>
    public Handle CreateHandle(KProcess process, KernelObject obj, uint grantedAccess)
    {
        obj.IsManaged = true;
        return process.Handles.Insert(obj, grantedAccess, process.IsSystem);
    }

    /// <summary>ObReferenceObjectByHandle's core: resolves the handle, checks the type and (for user mode) the access.</summary>
    public NtStatus ReferenceByHandle(Handle handle, uint desiredAccess, ObjectType? type, KProcessorMode mode, out KernelObject? obj, out uint grantedAccess)
    {
        obj = null;
        grantedAccess = 0;
        KThread thread = KThread.Current;
        if (handle.Value == -1 || handle.Value == -2)
        {
            KernelObject pseudo = handle.Value == -1 ? thread.Process : thread;
            if (type is not null && pseudo.Type != type)
            {
                return NtStatus.STATUS_OBJECT_TYPE_MISMATCH;
            }

            Reference(pseudo);
            obj = pseudo;
            grantedAccess = 0x1FFFFF;
            return NtStatus.STATUS_SUCCESS;
        }

        KProcess table = thread.Process;
        if (handle.IsKernelHandle)
        {
            if (mode == KProcessorMode.UserMode)
            {
                return NtStatus.STATUS_INVALID_HANDLE;
            }

            table = _machine.SystemProcess;
        }

        if (!table.Handles.TryGet(handle, out KernelObject? o, out uint granted) || o is null)
        {
            return NtStatus.STATUS_INVALID_HANDLE;
        }

        if (type is not null && o.Type != type)
        {
            return NtStatus.STATUS_OBJECT_TYPE_MISMATCH;
        }

        if (mode == KProcessorMode.UserMode && (granted & desiredAccess & 0x0FFFFFFF) != (desiredAccess & 0x0FFFFFFF))
        {
            return NtStatus.STATUS_ACCESS_DENIED;
        }

        Reference(o);
        obj = o;
        grantedAccess = granted;
        return NtStatus.STATUS_SUCCESS;
    }

    /// <summary>NtClose / ZwClose: removes the handle; the last handle runs the close side effects.</summary>
    public NtStatus CloseHandle(KProcess callerProcess, Handle handle)
    {
        KProcess table = handle.IsKernelHandle ? _machine.SystemProcess : callerProcess;
        KernelObject? obj = table.Handles.Remove(handle);
        if (obj is null)
        {
            return NtStatus.STATUS_INVALID_HANDLE;
        }

        if (Interlocked.Decrement(ref obj.HandleCount) == 0)
        {
            obj.OnLastHandleClosed();
        }

        Dereference(obj);
        return NtStatus.STATUS_SUCCESS;
    }
}
