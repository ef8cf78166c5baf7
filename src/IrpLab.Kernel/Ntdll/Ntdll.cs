using IrpLab.Scheduling;

namespace IrpLab;

/// <summary>
/// The native system-call surface (ntdll.dll): the only way application code reaches the kernel. Kernel32 and the
/// .NET layer are built on these routines alone. Statuses are returned, never thrown.
/// </summary>
public static partial class Ntdll
{
    public const uint EVENT_ALL_ACCESS = 0x1F0003;
    public const uint EVENT_MODIFY_STATE = 0x0002;

    /// <summary>RtlNtStatusToDosError: also remembers the status as the thread's last NT status.</summary>
    public static uint RtlNtStatusToDosError(NtStatus Status)
    {
        if (KThread.CurrentOrNull is KThread t)
        {
            t.LastStatus = Status;
        }

        return StatusMapping.ToDosError(Status);
    }

    /// <summary>RtlNtStatusToDosErrorNoTeb.</summary>
    public static uint RtlNtStatusToDosErrorNoTeb(NtStatus Status) => StatusMapping.ToDosError(Status);

    /// <summary>RtlGetLastWin32Error: the TEB's LastErrorValue.</summary>
    public static uint RtlGetLastWin32Error() => KThread.Current.LastError;

    /// <summary>RtlSetLastWin32Error.</summary>
    public static void RtlSetLastWin32Error(uint Win32Error) => KThread.Current.LastError = Win32Error;

    /// <summary>RtlGetLastNtStatus.</summary>
    public static NtStatus RtlGetLastNtStatus() => KThread.Current.LastStatus;

    /// <summary>
    /// Per-process user-mode state (what a DLL's globals are on Windows: each process has its own copy). Returns the
    /// current process's instance of <typeparamref name="T"/>, created on first use.
    /// </summary>
    public static T RtlGetProcessLocal<T>(Func<T> create)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(create);
        KProcess process = KThread.Current.Process;
        lock (process.LocalStorage)
        {
            if (process.LocalStorage.TryGetValue(typeof(T), out object? existing))
            {
                return (T)existing;
            }
        }

        T created = create();
        lock (process.LocalStorage)
        {
            if (process.LocalStorage.TryGetValue(typeof(T), out object? raced))
            {
                return (T)raced;
            }

            process.LocalStorage.Add(typeof(T), created);
            return created;
        }
    }

    /// <summary>The current thread's id (TEB ClientId).</summary>
    public static int NtCurrentThreadId() => KThread.Current.Id;

    /// <summary>The current process's id.</summary>
    public static int NtCurrentProcessId() => KThread.Current.Process.Id;

    /// <summary>NtCurrentProcess(): the pseudo handle -1.</summary>
    public static Handle NtCurrentProcess() => new(-1);

    /// <summary>NtCurrentThread(): the pseudo handle -2.</summary>
    public static Handle NtCurrentThread() => new(-2);

    /// <summary>NtQuerySystemTime.</summary>
    public static NtStatus NtQuerySystemTime(out long SystemTime)
    {
        SystemTime = KThread.Current.Machine.Clock.SystemTime;
        return NtStatus.STATUS_SUCCESS;
    }

    /// <summary>The interrupt time (KUSER_SHARED_DATA), 100 ns since boot.</summary>
    public static long RtlGetInterruptTime() => KThread.Current.Machine.Clock.InterruptTime;

    /// <summary>
    /// NtDelayExecution: Interval negative relative, positive absolute (100 ns). Returns STATUS_SUCCESS, or
    /// STATUS_USER_APC when alertable and user APCs ran.
    /// </summary>
    public static NtStatus NtDelayExecution(bool Alertable, long Interval)
    {
        KThread t = SystemCall.Enter();
        try
        {
            NtStatus status = t.Machine.Dispatcher.Wait(t, [], WaitType.WaitAny, KProcessorMode.UserMode, Alertable, Interval);
            return AfterUserWait(t, status) switch
            {
                NtStatus.STATUS_TIMEOUT => NtStatus.STATUS_SUCCESS,
                NtStatus s => s,
            };
        }
        finally
        {
            SystemCall.Exit(t);
        }
    }

    /// <summary>NtCreateEvent: a notification (manual-reset) or synchronization (auto-reset) event, optionally named.</summary>
    public static NtStatus NtCreateEvent(out Handle EventHandle, uint DesiredAccess, string? Name, EventType EventType, bool InitialState)
    {
        KThread t = SystemCall.Enter();
        try
        {
            Machine m = t.Machine;
            var ev = new KEvent(EventType, InitialState) { IsManaged = true };
            if (Name is not null)
            {
                string path = "\\BaseNamedObjects\\" + Name;
                NtStatus status = m.Objects.Insert(path, ev);
                if (status == NtStatus.STATUS_OBJECT_NAME_COLLISION
                    && m.Objects.Lookup(path, out KernelObject? existing, out _) == NtStatus.STATUS_SUCCESS)
                {
                    if (existing is not KEvent)
                    {
                        EventHandle = default;
                        return NtStatus.STATUS_OBJECT_TYPE_MISMATCH;
                    }

                    EventHandle = m.Objects.CreateHandle(t.Process, existing, DesiredAccess);
                    return NtStatus.STATUS_OBJECT_NAME_EXISTS;
                }

                if (status != NtStatus.STATUS_SUCCESS)
                {
                    EventHandle = default;
                    return status;
                }
            }

            EventHandle = m.Objects.CreateHandle(t.Process, ev, DesiredAccess);
            return NtStatus.STATUS_SUCCESS;
        }
        finally
        {
            SystemCall.Exit(t);
        }
    }

    /// <summary>NtSetEvent: returns the previous state.</summary>
    public static NtStatus NtSetEvent(Handle EventHandle, out int PreviousState)
        => EventOperation(EventHandle, EVENT_MODIFY_STATE, static (d, e) => e.Set(d), out PreviousState);

    /// <summary>NtResetEvent.</summary>
    public static NtStatus NtResetEvent(Handle EventHandle, out int PreviousState)
        => EventOperation(EventHandle, EVENT_MODIFY_STATE, static (_, e) => e.Reset(), out PreviousState);

    /// <summary>NtClearEvent.</summary>
    public static NtStatus NtClearEvent(Handle EventHandle) => EventOperation(EventHandle, EVENT_MODIFY_STATE, static (_, e) => e.Reset(), out _);

    /// <summary>NtPulseEvent.</summary>
    public static NtStatus NtPulseEvent(Handle EventHandle, out int PreviousState)
        => EventOperation(EventHandle, EVENT_MODIFY_STATE, static (d, e) => e.Pulse(d), out PreviousState);

    private static NtStatus EventOperation(Handle handle, uint access, Func<KernelDispatcher, KEvent, int> operation, out int previous)
    {
        KThread t = SystemCall.Enter();
        try
        {
            previous = 0;
            Machine m = t.Machine;
            NtStatus status = m.Objects.ReferenceByHandle(handle, access, ObjectType.Event, t.PreviousMode, out KernelObject? obj, out _);
            if (status != NtStatus.STATUS_SUCCESS)
            {
                return status;
            }

            lock (m.Dispatcher.SyncRoot)
            {
                previous = operation(m.Dispatcher, (KEvent)obj!);
            }

            m.Objects.Dereference(obj!);
            m.Scheduler.Yield(t, SchedulingPointKind.Signal);
            return NtStatus.STATUS_SUCCESS;
        }
        finally
        {
            SystemCall.Exit(t);
        }
    }

    /// <summary>
    /// NtWaitForSingleObject on any waitable handle (event, semaphore, mutant, thread, process, file, port).
    /// Timeout null = infinite. Returns STATUS_WAIT_0, STATUS_ABANDONED_WAIT_0, STATUS_TIMEOUT, STATUS_USER_APC,
    /// or an error for a bad handle.
    /// </summary>
    public static NtStatus NtWaitForSingleObject(Handle Handle, bool Alertable, long? Timeout)
    {
        KThread t = SystemCall.Enter();
        try
        {
            NtStatus status = ReferenceWaitable(t, Handle, out KernelObject? obj, out DispatcherObject? waitable);
            if (status != NtStatus.STATUS_SUCCESS)
            {
                return status;
            }

            try
            {
                status = t.Machine.Dispatcher.Wait(t, [waitable!], WaitType.WaitAny, KProcessorMode.UserMode, Alertable, Timeout);
                return AfterUserWait(t, status);
            }
            finally
            {
                t.Machine.Objects.Dereference(obj!);
            }
        }
        finally
        {
            SystemCall.Exit(t);
        }
    }

    /// <summary>
    /// NtWaitForMultipleObjects: WaitAny returns the lowest signaled index; WaitAll acquires all at once.
    /// More than 64 handles, or the same object twice, is STATUS_INVALID_PARAMETER (_MIX). A pseudo handle
    /// (NtCurrentProcess, NtCurrentThread) is STATUS_INVALID_HANDLE, unlike NtWaitForSingleObject.
    /// </summary>
    public static NtStatus NtWaitForMultipleObjects(int Count, Handle[] Handles, WaitType WaitType, bool Alertable, long? Timeout)
    {
        ArgumentNullException.ThrowIfNull(Handles);
        KThread t = SystemCall.Enter();
        try
        {
            if (Count is <= 0 or > 64 || Count > Handles.Length)
            {
                return NtStatus.STATUS_INVALID_PARAMETER;
            }

            var objects = new KernelObject?[Count];
            var waitables = new DispatcherObject[Count];
            try
            {
                for (int i = 0; i < Count; i++)
                {
                    // docs/reference/kernel-fidelity.md §1: the pseudo handles of the current process (-1) and thread
                    // (-2) are not looked up here as they are by NtWaitForSingleObject; they are invalid handles.
                    if (Handles[i].Value is -1 or -2)
                    {
                        return NtStatus.STATUS_INVALID_HANDLE;
                    }

                    NtStatus status = ReferenceWaitable(t, Handles[i], out objects[i], out DispatcherObject? w);
                    if (status != NtStatus.STATUS_SUCCESS)
                    {
                        return status;
                    }

                    for (int j = 0; j < i; j++)
                    {
                        if (waitables[j] == w)
                        {
                            // UNCONFIRMED: the exact status for a duplicate; the Win32 result is WAIT_FAILED/ERROR_INVALID_PARAMETER.
                            return NtStatus.STATUS_INVALID_PARAMETER_MIX;
                        }
                    }

                    waitables[i] = w!;
                }

                NtStatus result = t.Machine.Dispatcher.Wait(t, waitables, WaitType, KProcessorMode.UserMode, Alertable, Timeout);
                return AfterUserWait(t, result);
            }
            finally
            {
                foreach (KernelObject? o in objects)
                {
                    if (o is not null)
                    {
                        t.Machine.Objects.Dereference(o);
                    }
                }
            }
        }
        finally
        {
            SystemCall.Exit(t);
        }
    }

    /// <summary>NtClose.</summary>
    public static NtStatus NtClose(Handle Handle)
    {
        KThread t = SystemCall.Enter();
        try
        {
            return t.Machine.Objects.CloseHandle(t.Process, Handle);
        }
        finally
        {
            SystemCall.Exit(t);
        }
    }

    /// <summary>NtTestAlert-style delivery: runs the thread's queued user APCs. Returns how many ran.</summary>
    internal static int DeliverUserApcs(KThread t) => t.Machine.Apcs.DeliverUserApcs(t);

    /// <summary>An alertable wait that returned STATUS_USER_APC runs the queued user APCs before returning.</summary>
    private static NtStatus AfterUserWait(KThread t, NtStatus status)
    {
        if (status == NtStatus.STATUS_USER_APC)
        {
            t.Machine.Apcs.DeliverUserApcs(t);
        }
        else if (status == NtStatus.STATUS_THREAD_IS_TERMINATING)
        {
            throw new ThreadTerminatedException(status);
        }

        return status;
    }

    /// <summary>Resolves a handle to the dispatcher object a wait on it uses (a file object's event, ...).</summary>
    private static NtStatus ReferenceWaitable(KThread t, Handle handle, out KernelObject? obj, out DispatcherObject? waitable)
    {
        waitable = null;
        NtStatus status = t.Machine.Objects.ReferenceByHandle(handle, WinNt.SYNCHRONIZE, null, KProcessorMode.UserMode, out obj, out _);
        if (status != NtStatus.STATUS_SUCCESS)
        {
            return status;
        }

        waitable = WaitableOf(obj!);
        if (waitable is null)
        {
            t.Machine.Objects.Dereference(obj!);
            obj = null;
            return NtStatus.STATUS_OBJECT_TYPE_MISMATCH;
        }

        return NtStatus.STATUS_SUCCESS;
    }

    /// <summary>The object a wait on a handle to <paramref name="obj"/> waits on.</summary>
    internal static DispatcherObject? WaitableOf(KernelObject obj) => obj switch
    {
        DispatcherObject d => d,
        IWaitableObject w => w.WaitObject,
        _ => null,
    };

    /// <summary>DbgPrint (user mode): the text goes to the debug stream.</summary>
    public static uint DbgPrint(string Format, params object?[] Arguments)
    {
        KThread t = KThread.Current;
        t.Machine.Trace.Record(TraceEventKind.DebugPrint, PrintfFormatter.Format(Format, Arguments));
        return 0;
    }

    /// <summary>Writes application console output to the machine's trace (console host stand-in).</summary>
    public static NtStatus NtWriteConsole(string Text)
    {
        KThread t = KThread.Current;
        t.Machine.Trace.Record(TraceEventKind.ConsoleOutput, Text);
        return NtStatus.STATUS_SUCCESS;
    }

    /// <summary>
    /// NtCreateThreadEx (reduced): starts a thread of the current process running StartRoutine(Argument).
    /// </summary>
    public static NtStatus NtCreateThreadEx(out Handle ThreadHandle, uint DesiredAccess, Action<object?> StartRoutine, object? Argument, out int ThreadId)
    {
        ArgumentNullException.ThrowIfNull(StartRoutine);
        KThread t = SystemCall.Enter();
        try
        {
            Machine m = t.Machine;
            if (t.Process.Exiting)
            {
                ThreadHandle = default;
                ThreadId = 0;
                return NtStatus.STATUS_THREAD_IS_TERMINATING;
            }

            KThread? created = null;
            created = m.CreateThread(t.Process, StartRoutine.Method.Name, () =>
            {
                created!.PreviousMode = KProcessorMode.UserMode;
                StartRoutine(Argument);
            }, isService: false, start: false);
            ThreadHandle = m.Objects.CreateHandle(t.Process, created, DesiredAccess == 0 ? Wdm.THREAD_ALL_ACCESS : DesiredAccess);
            ThreadId = created.Id;
            m.Scheduler.Start(created);
            return NtStatus.STATUS_SUCCESS;
        }
        finally
        {
            SystemCall.Exit(t);
        }
    }

    /// <summary>NtQueueApcThread (reduced): queues a user APC to the thread.</summary>
    public static NtStatus NtQueueApcThread(Handle ThreadHandle, Action<nuint> ApcRoutine, nuint Argument)
    {
        ArgumentNullException.ThrowIfNull(ApcRoutine);
        KThread t = SystemCall.Enter();
        try
        {
            NtStatus status = t.Machine.Objects.ReferenceByHandle(ThreadHandle, 0x0010, ObjectType.Thread, KProcessorMode.UserMode, out KernelObject? obj, out _);
            if (status != NtStatus.STATUS_SUCCESS)
            {
                return status;
            }

            var target = (KThread)obj!;
            bool queued = t.Machine.Apcs.QueueUserApc(target, ApcRoutine, Argument);
            t.Machine.Objects.Dereference(target);
            return queued ? NtStatus.STATUS_SUCCESS : NtStatus.STATUS_UNSUCCESSFUL;
        }
        finally
        {
            SystemCall.Exit(t);
        }
    }
}

/// <summary>An object whose handle is waitable through an embedded dispatcher object (a file object's event).</summary>
internal interface IWaitableObject
{
    DispatcherObject WaitObject { get; }
}

/// <summary>C runtime helpers shared by user-mode code.</summary>
public static class Crt
{
    /// <summary>C printf formatting.</summary>
    public static string Format(string format, params object?[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        return PrintfFormatter.Format(format, args);
    }
}
