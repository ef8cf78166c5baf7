namespace IrpLab;

public static partial class Wdm
{
    public const uint THREAD_ALL_ACCESS = 0x1FFFFF;
    public const uint PROCESS_ALL_ACCESS = 0x1FFFFF;
    public const uint OBJ_KERNEL_HANDLE = 0x00000200;

    /// <summary>
    /// PsCreateSystemThread: starts a thread in the System process (ProcessHandle NULL) running StartRoutine at
    /// PASSIVE_LEVEL, and returns a handle to it in the caller's process (the System process for DriverEntry).
    /// Convert the handle with ObReferenceObjectByHandle, close it with ZwClose, and wait on the thread object
    /// before unloading.
    /// </summary>
    public static NtStatus PsCreateSystemThread(out Handle ThreadHandle, uint DesiredAccess, object? ObjectAttributes, Handle? ProcessHandle, object? ClientId, KStartRoutine StartRoutine, object? StartContext)
    {
        ArgumentNullException.ThrowIfNull(StartRoutine);
        return CreateSystemThread(out ThreadHandle, DesiredAccess, StartRoutine.Method.Name, () => StartRoutine(StartContext));
    }

    /// <summary>PsCreateSystemThread with a typed start routine: <c>VOID ThreadProc(PDEVICE_EXTENSION pdx)</c>.</summary>
    public static NtStatus PsCreateSystemThread<TContext>(out Handle ThreadHandle, uint DesiredAccess, object? ObjectAttributes, Handle? ProcessHandle, object? ClientId, Action<TContext> StartRoutine, TContext StartContext)
    {
        ArgumentNullException.ThrowIfNull(StartRoutine);
        return CreateSystemThread(out ThreadHandle, DesiredAccess, StartRoutine.Method.Name, () => StartRoutine(StartContext));
    }

    private static NtStatus CreateSystemThread(out Handle threadHandle, uint desiredAccess, string routineName, Action body)
    {
        KThread caller = KThread.Current;
        KernelChecks.RequireIrql(caller, IrqlLevel.Passive, "PsCreateSystemThread");
        Machine m = caller.Machine;
        string? driver = caller.CurrentDriver;
        KThread? created = null;
        created = m.CreateThread(m.SystemProcess, routineName, () =>
        {
            created!.CurrentDriver = driver;
            created.CurrentRoutine = routineName;
            body();
        }, isService: false, start: false);
        ObjectManager.Reference(created);
        threadHandle = m.Objects.CreateHandle(caller.Process, created, desiredAccess == 0 ? THREAD_ALL_ACCESS : desiredAccess);
        m.Objects.Dereference(created);
        m.Scheduler.Start(created);
        m.Scheduler.Yield(caller, Scheduling.SchedulingPointKind.ThreadStart);
        return NtStatus.STATUS_SUCCESS;
    }

    /// <summary>PsTerminateSystemThread: ends the calling system thread; does not return.</summary>
    public static NtStatus PsTerminateSystemThread(NtStatus ExitStatus)
    {
        KThread t = KThread.Current;
        if (!t.Process.IsSystem)
        {
            return NtStatus.STATUS_INVALID_PARAMETER;
        }

        throw new ThreadTerminatedException(ExitStatus);
    }

    /// <summary>PsGetCurrentThread.</summary>
    public static KThread PsGetCurrentThread() => KThread.Current;

    /// <summary>KeGetCurrentThread.</summary>
    public static KThread KeGetCurrentThread() => KThread.Current;

    /// <summary>PsGetCurrentProcess / IoGetCurrentProcess.</summary>
    public static KProcess PsGetCurrentProcess() => KThread.Current.Process;

    /// <summary>IoGetCurrentProcess.</summary>
    public static KProcess IoGetCurrentProcess() => KThread.Current.Process;

    /// <summary>PsGetCurrentThreadId.</summary>
    public static Handle PsGetCurrentThreadId() => new(KThread.Current.Id);

    /// <summary>PsGetCurrentProcessId.</summary>
    public static Handle PsGetCurrentProcessId() => new(KThread.Current.Process.Id);

    /// <summary>PsIsSystemThread.</summary>
    public static bool PsIsSystemThread(KThread Thread) => Thread.Process.IsSystem;
}
