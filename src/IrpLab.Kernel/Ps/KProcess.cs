namespace IrpLab;

/// <summary>
/// A simulated process (KPROCESS/EPROCESS): a handle table and threads. The System process (id 4) hosts
/// DriverEntry, unload routines, system threads and the machine's service threads. A process becomes signaled
/// when it has exited: its last thread is gone and its handles are closed.
/// </summary>
public sealed class KProcess : DispatcherObject
{
    private readonly List<KThread> _threads = [];

    internal KProcess(Machine machine, int id, string name, bool isSystem)
    {
        Machine = machine;
        Id = id;
        Name = name;
        IsSystem = isSystem;
        Handles = new HandleTable(machine, this);
        DispatcherType = DispatcherObjectType.ProcessObject;
    }

    public int Id { get; }

    public string Name { get; }

    public bool IsSystem { get; }

    internal Machine Machine { get; }

    internal HandleTable Handles { get; }

    internal KThread? MainThread;

    internal int ExitCode;

    internal bool Exiting;

    /// <summary>The exception that ended the process, rethrown to the host.</summary>
    internal Exception? UnhandledException;

    internal override ObjectType Type => ObjectType.Process;

    /// <summary>User-mode runtime state of this process (what DLL globals and the PEB hold on Windows).</summary>
    internal Dictionary<Type, object> LocalStorage { get; } = [];

    internal void AddThread(KThread thread)
    {
        lock (_threads)
        {
            _threads.Add(thread);
        }
    }

    internal KThread[] LiveThreads()
    {
        lock (_threads)
        {
            return [.. _threads.Where(t => t.State != KThreadState.Terminated)];
        }
    }

    /// <summary>
    /// The process's <paramref name="index"/>-th thread (exited ones included), or null past the last one. Threads are
    /// only ever added, so walking the indexes visits every thread without a snapshot.
    /// </summary>
    internal KThread? ThreadAt(int index)
    {
        lock (_threads)
        {
            return index < _threads.Count ? _threads[index] : null;
        }
    }

    /// <summary>Every thread of the process, exited ones included (their left-over IRPs can still be cancelled).</summary>
    internal KThread[] AllThreads()
    {
        lock (_threads)
        {
            return [.. _threads];
        }
    }

    /// <summary>
    /// Runs on a thread's carrier as it exits. When the main thread of a user process exits (ExitProcess), the
    /// other threads are terminated and waited for, then the handle table is run down in this thread's context
    /// (last handles send IRP_MJ_CLEANUP, last references IRP_MJ_CLOSE), and the process is signaled.
    /// </summary>
    internal void OnThreadExiting(KThread thread)
    {
        if (IsSystem || thread != MainThread || Machine.IsHalted || thread.Unwinding)
        {
            return;
        }

        Exiting = true;
        thread.TerminationRequested = false;
        foreach (KThread other in LiveThreads())
        {
            if (other != thread)
            {
                Machine.Dispatcher.RequestTermination(other);
            }
        }

        foreach (KThread other in LiveThreads())
        {
            if (other != thread)
            {
                Machine.Dispatcher.Wait(thread, [other], WaitType.WaitAny, KProcessorMode.KernelMode, false, null);
            }
        }

        KThread saved = thread;
        saved.PreviousMode = KProcessorMode.KernelMode;
        Handles.CloseAll();
        Machine.Dispatcher.SignalProcess(this);
    }
}
