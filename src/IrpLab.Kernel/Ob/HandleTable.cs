namespace IrpLab;

/// <summary>
/// A process's handle table. Freed slots are reused most-recent-first, as Windows does. Guarded by its own lock;
/// the close side effects (IRP_MJ_CLEANUP, IRP_MJ_CLOSE) run after the lock is released.
/// </summary>
internal sealed class HandleTable
{
    private readonly Machine _machine;
    private readonly KProcess _process;
    private readonly Lock _lock = new();
    private readonly List<Entry> _entries = [];
    private readonly Stack<int> _free = new();

    public HandleTable(Machine machine, KProcess process)
    {
        _machine = machine;
        _process = process;
    }

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _entries.Count - _free.Count;
            }
        }
    }

    /// <summary>Adds a handle to <paramref name="obj"/>; the handle holds one reference and one handle count.</summary>
    public Handle Insert(KernelObject obj, uint grantedAccess, bool kernelHandle)
    {
        ObjectManager.AddHandleCount(obj);
        int index;
        lock (_lock)
        {
            if (_free.Count > 0)
            {
                index = _free.Pop();
                _entries[index] = new Entry(obj, grantedAccess);
            }
            else
            {
                index = _entries.Count;
                _entries.Add(new Entry(obj, grantedAccess));
            }
        }

        long value = (index + 1) * 4L;
        return new Handle((nint)(kernelHandle ? value | Handle.KernelHandleBit : value));
    }

    public bool TryGet(Handle handle, out KernelObject? obj, out uint grantedAccess)
    {
        int index = IndexOf(handle);
        lock (_lock)
        {
            if (index >= 0 && index < _entries.Count && _entries[index].Object is KernelObject o)
            {
                obj = o;
                grantedAccess = _entries[index].GrantedAccess;
                return true;
            }
        }

        obj = null;
        grantedAccess = 0;
        return false;
    }

    /// <summary>Removes the handle. Returns the object it referred to, or null for an invalid handle.</summary>
    public KernelObject? Remove(Handle handle)
    {
        int index = IndexOf(handle);
        lock (_lock)
        {
            if (index < 0 || index >= _entries.Count || _entries[index].Object is not KernelObject o)
            {
                return null;
            }

            _entries[index] = default;
            _free.Push(index);
            return o;
        }
    }

    /// <summary>Closes every handle (process rundown), newest first.</summary>
    public void CloseAll()
    {
        while (true)
        {
            Handle handle;
            lock (_lock)
            {
                int index = _entries.FindLastIndex(e => e.Object is not null);
                if (index < 0)
                {
                    return;
                }

                long value = (index + 1) * 4L;
                handle = new Handle((nint)(_process.IsSystem ? value | Handle.KernelHandleBit : value));
            }

            _machine.Objects.CloseHandle(_process, handle);
        }
    }

    private static int IndexOf(Handle handle)
    {
        long value = handle.Value;
        if (handle.IsKernelHandle)
        {
            value &= ~Handle.KernelHandleBit;
        }

        // The low two bits are tag bits the object manager ignores (OBJ_HANDLE_TAGBITS): kernel32's
        // "hEvent | 1" trick relies on it.
        value &= ~3L;
        if (value <= 0)
        {
            return -1;
        }

        return (int)(value / 4) - 1;
    }

    private readonly record struct Entry(KernelObject? Object, uint GrantedAccess);
}
