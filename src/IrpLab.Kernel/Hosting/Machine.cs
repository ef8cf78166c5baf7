using System.Runtime.ExceptionServices;
using IrpLab.Scheduling;

namespace IrpLab;

/// <summary>Why a machine stopped.</summary>
public enum MachineStopReason
{
    None = 0,
    BugCheck = 1,
    Deadlock = 2,
    StepBound = 3,
    Shutdown = 4,
}

/// <summary>
/// A simulated Windows machine: processors, a kernel (dispatcher, object manager, I/O manager, processes and
/// threads), loaded drivers and running applications. The hosting API below is plain .NET; code running
/// inside the machine uses the Wdm and Kernel32 facades.
/// </summary>
/// <example>
/// <code>
/// using var machine = new Machine(new MachineOptions { Deterministic = true, Seed = 42 });
/// machine.LoadDriver("HelloDDK", HelloDdk.DriverEntry);
/// int exit = machine.Run("app", App.Main);
/// machine.UnloadDriver("HelloDDK");
/// </code>
/// </example>
public sealed class Machine : IDisposable
{
    private readonly Lock _threadsLock = new();
    private readonly List<KThread> _threads = [];
    private readonly Lock _hostLock = new();
    private readonly Lock _stopLock = new();
    private readonly HashSet<string>? _verifiedDrivers;
    private long _nextClientId = 4;
    private long _nextDebugId;
    private volatile bool _halted;
    private MachineStopReason _stopReason;
    private string? _stopReport;
    private BugCheckInfo? _bugCheck;
    private bool _disposed;

    public Machine(MachineOptions? options = null)
    {
        Options = options ?? new MachineOptions();
        if (Options.Processors is < 1 or > 64)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "Processors must be between 1 and 64.");
        }

        if (Options.VerifiedDrivers is IReadOnlyCollection<string> verified)
        {
            _verifiedDrivers = new HashSet<string>(verified, StringComparer.OrdinalIgnoreCase);
        }

        Dispatcher = new KernelDispatcher(this);
        Objects = new ObjectManager(this);
        Io = new IoManager(this);
        Apcs = new ApcManager(this);
        if (Options.Deterministic)
        {
            var clock = new VirtualClock();
            Clock = clock;
            Strategy = Options.Strategy ?? new RandomStrategy(Options.Seed);
            Scheduler = new DeterministicScheduler(this, clock, Strategy, Options.Processors)
            {
                MaxSteps = Options.MaxSteps,
                ExploreTimeouts = Options.ExploreTimeouts,
            };
            RealRandom = new SplitMix64(Options.Seed);
        }
        else
        {
            var clock = new RealClock();
            Clock = clock;
            Scheduler = new RealScheduler(this, clock, Options.Processors);
            RealRandom = new SplitMix64((ulong)clock.BootSystemTime);
        }

        Trace = new Trace(this, Options.RecentTraceCapacity, Options.CaptureTrace, Options.TraceLevel);
        SystemProcess = new KProcess(this, NextClientId(), "System", isSystem: true);

        // Service threads (DPC, interrupt, worker) are created when first needed.
        Dpcs = new DpcManager(this);
        TimerObjects = new TimerManager(this);
        Workers = new ExWorkerPool(this);
        Interrupts = new InterruptController(this);
        Deadlocks = new DeadlockVerifier(this);
    }

    public MachineOptions Options { get; }

    public MachineClock Clock { get; }

    public Trace Trace { get; }

    /// <summary>The bug check that stopped the machine, or null.</summary>
    public BugCheckInfo? BugCheck => _bugCheck;

    public MachineStopReason StopReason => _stopReason;

    /// <summary>The deadlock or step-bound report, when the machine stopped for one of those.</summary>
    public string? StopReport => _stopReport;

    public bool IsDeterministic => Options.Deterministic;

    /// <summary>Scheduling points reached so far.</summary>
    public long SchedulingSteps => Scheduler.Steps;

    /// <summary>Scheduling decisions in which the strategy chose among two or more options.</summary>
    public long SchedulingChoices => Scheduler.Choices;

    /// <summary>Context switches between simulated threads.</summary>
    public long ContextSwitches => Scheduler.Switches;

    public KProcess SystemProcess { get; }

    internal ISchedulingStrategy? Strategy { get; }

    internal bool IsHalted => _halted;

    internal Scheduler Scheduler { get; }

    internal KernelDispatcher Dispatcher { get; }

    internal ObjectManager Objects { get; }

    internal IoManager Io { get; }

    internal ApcManager Apcs { get; }

    internal DpcManager Dpcs { get; }

    internal TimerManager TimerObjects { get; }

    internal ExWorkerPool Workers { get; }

    internal InterruptController Interrupts { get; }

    internal DeadlockVerifier Deadlocks { get; }

    internal SplitMix64 RealRandom { get; }

    /// <summary>The verifier is on for the machine: IRP tracking, deadlock bookkeeping, application warnings.</summary>
    internal bool VerifierEnabled => Options.Verifier;

    /// <summary>Whether the verifier checks <paramref name="driver"/> (null: code outside any driver).</summary>
    internal bool Verifies(string? driver)
        => Options.Verifier && (_verifiedDrivers is null || (driver is not null && _verifiedDrivers.Contains(driver)));

    /// <summary>Whether the verifier checks the driver whose routine <paramref name="thread"/> is running.</summary>
    internal bool Verifies(KThread thread) => Verifies(thread.CurrentDriver);

    /// <summary>Loads a driver: DriverEntry runs on a system thread. Returns DriverEntry's status.</summary>
    public NtStatus LoadDriver(string name, DriverInitialize driverEntry)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(driverEntry);
        NtStatus status = NtStatus.STATUS_UNSUCCESSFUL;
        RunOnNewThread(SystemProcess, "DriverEntry:" + name, () => status = Io.LoadDriver(name, driverEntry));
        return status;
    }

    /// <summary>
    /// Unloads a driver: its unload routine runs on a system thread, and STATUS_SUCCESS is returned. While a device of
    /// the driver is still referenced by a file object, the unload is deferred instead: new opens fail, STATUS_PENDING
    /// is returned, and the routine runs on a system thread when the last reference goes (docs/verifier.md, Unload).
    /// </summary>
    public NtStatus UnloadDriver(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        NtStatus status = NtStatus.STATUS_UNSUCCESSFUL;
        RunOnNewThread(SystemProcess, "DriverUnload:" + name, () => status = Io.UnloadDriver(name));
        return status;
    }

    /// <summary>
    /// Starts a user process whose main thread runs <paramref name="main"/>, and waits until the process has
    /// exited (its threads ended, its handles closed). Returns the exit code. An exception the application does not
    /// handle ends the process and is rethrown here.
    /// </summary>
    public int Run(string processName, Func<int> main)
    {
        ArgumentException.ThrowIfNullOrEmpty(processName);
        ArgumentNullException.ThrowIfNull(main);
        var process = new KProcess(this, NextClientId(), processName, isSystem: false);
        KThread? thread = null;
        thread = CreateThread(process, processName, () =>
        {
            thread!.PreviousMode = KProcessorMode.UserMode;
            process.ExitCode = main();
        }, isService: false, start: false);
        process.MainThread = thread;
        RunHost(thread);
        if (process.UnhandledException is Exception ex)
        {
            ExceptionDispatchInfo.Capture(ex).Throw();
        }

        return process.ExitCode;
    }

    /// <summary>Runs an application whose main returns nothing (exit code 0).</summary>
    public int Run(string processName, Action main)
    {
        ArgumentNullException.ThrowIfNull(main);
        return Run(processName, () =>
        {
            main();
            return 0;
        });
    }

    /// <summary>
    /// Runs an application whose main is asynchronous. The main thread runs it until its first await, then waits —
    /// through the scheduler, so deterministic mode stays deterministic — until the task completes (the code after
    /// an await runs on whichever simulated thread completed what it awaited).
    /// </summary>
    public int Run(string processName, Func<Task<int>> mainAsync)
    {
        ArgumentNullException.ThrowIfNull(mainAsync);
        return Run(processName, () =>
        {
            Task<int> task = mainAsync();
            if (!task.IsCompleted)
            {
                KThread t = KThread.Current;
                var done = new KEvent(EventType.NotificationEvent, false);
                task.ContinueWith(
                    static (_, state) =>
                    {
                        var (machine, ev) = ((Machine, KEvent))state!;
                        lock (machine.Dispatcher.SyncRoot)
                        {
                            ev.Set(machine.Dispatcher);
                        }
                    },
                    (this, done),
                    CancellationToken.None,
                    TaskContinuationOptions.ExecuteSynchronously,
                    TaskScheduler.Default);
                Dispatcher.Wait(t, [done], WaitType.WaitAny, KProcessorMode.UserMode, false, null);
            }

            return task.GetAwaiter().GetResult();
        });
    }

    /// <summary>Runs <paramref name="body"/> on a new system thread (kernel mode, PASSIVE_LEVEL) and waits for it.</summary>
    public void RunKernel(string threadName, Action body)
    {
        ArgumentNullException.ThrowIfNull(body);
        RunOnNewThread(SystemProcess, threadName, body);
    }

    /// <summary>
    /// Real mode only: makes the calling host thread the main thread of a new user process, so that it can call
    /// Kernel32 and Ntdll directly (benchmarks, interactive use). Disposing the result exits the process: its
    /// handles are closed (IRP_MJ_CLEANUP, IRP_MJ_CLOSE) on this thread.
    /// </summary>
    public IDisposable AttachThread(string processName)
    {
        ArgumentException.ThrowIfNullOrEmpty(processName);
        if (IsDeterministic)
        {
            throw new InvalidOperationException("In deterministic mode only the scheduler runs simulated threads; use Run instead.");
        }

        if (KThread.CurrentOrNull is not null)
        {
            throw new InvalidOperationException("This thread already belongs to a machine.");
        }

        ObjectDisposedException.ThrowIf(_disposed, this);
        ThrowIfStopped();
        var process = new KProcess(this, NextClientId(), processName, isSystem: false);
        KThread thread = CreateThread(process, processName, () => { }, isService: false, start: false);
        process.MainThread = thread;
        thread.PreviousMode = KProcessorMode.UserMode;
        thread.State = KThreadState.Running;
        KThread.Attach(thread);
        return new AttachedThread(this, thread);
    }

    private sealed class AttachedThread(Machine machine, KThread thread) : IDisposable
    {
        private bool _detached;

        public void Dispose()
        {
            if (_detached)
            {
                return;
            }

            _detached = true;
            try
            {
                if (!machine.IsHalted)
                {
                    thread.Process.OnThreadExiting(thread);
                }
            }
            finally
            {
                machine.Dispatcher.Terminate(thread);
                thread.HostExited.Set();
                KThread.Detach();
            }
        }
    }

    /// <summary>Stops every simulated thread. The machine cannot be used afterwards.</summary>
    public void Dispose()
    {
        lock (_hostLock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            Stop(MachineStopReason.Shutdown, null);
            Scheduler.UnwindAll(LiveThreads());
            Scheduler.Dispose();
        }
    }

    // ------------------------------------------------------------------ threads

    internal int NextClientId() => (int)Interlocked.Add(ref _nextClientId, 4) - 4;

    internal long NextDebugId() => Interlocked.Increment(ref _nextDebugId);

    internal KThread CreateThread(KProcess process, string name, Action body, bool isService, bool start = true)
    {
        var thread = new KThread(this, process, NextClientId(), name, body, isService);
        process.AddThread(thread);
        lock (_threadsLock)
        {
            _threads.Add(thread);
        }

        if (start)
        {
            Scheduler.Start(thread);
        }

        return thread;
    }

    internal IReadOnlyList<KThread> LiveThreads()
    {
        lock (_threadsLock)
        {
            _threads.RemoveAll(t => t.State == KThreadState.Terminated && t.HostExited.IsSet);
            return [.. _threads.Where(t => t.State != KThreadState.Terminated)];
        }
    }

    internal void TraceThread(KThread thread, bool created)
    {
        TraceEventKind kind = created ? TraceEventKind.ThreadCreated : TraceEventKind.ThreadExited;
        if (Trace.IsEnabled(kind))
        {
            Trace.Record(kind, (created ? "thread created: " : "thread exited: ") + thread + " in " + thread.Process.Name);
        }
    }

    private void RunOnNewThread(KProcess process, string name, Action body)
    {
        KThread thread = CreateThread(process, name, body, isService: false, start: false);
        RunHost(thread);
    }

    private void RunHost(KThread thread)
    {
        if (KThread.CurrentOrNull is not null)
        {
            throw new InvalidOperationException("The hosting API cannot be called from inside the machine.");
        }

        lock (_hostLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            ThrowIfStopped();
            Scheduler.Start(thread);
            Scheduler.RunUntilExit(thread);
            if (_halted)
            {
                Scheduler.UnwindAll(LiveThreads());
                ThrowIfStopped();
            }
        }
    }

    private void ThrowIfStopped()
    {
        switch (_stopReason)
        {
            case MachineStopReason.BugCheck:
                throw new BugCheckException(_bugCheck!);
            case MachineStopReason.Deadlock:
                throw new DeadlockException(_stopReport!);
            case MachineStopReason.StepBound:
                throw new StepBoundExceededException(_stopReport!);
            case MachineStopReason.Shutdown:
                throw new ObjectDisposedException(nameof(Machine));
            default:
                break;
        }
    }

    // ------------------------------------------------------------------ stops

    /// <summary>Stops the machine with a bug check and unwinds the calling thread.</summary>
    internal MachineHaltedException RaiseBugCheck(uint code, ulong p1, ulong p2, ulong p3, ulong p4, string diagnosis, Exception? exception = null)
    {
        KThread? thread = KThread.CurrentOrNull;
        var info = new BugCheckInfo(code, p1, p2, p3, p4, diagnosis)
        {
            FaultingDriver = thread?.CurrentDriver,
            FaultingRoutine = thread?.CurrentCallback?.Method.Name ?? thread?.CurrentRoutine,
            Thread = thread?.ToString(),
            Processor = thread?.Processor ?? 0,
            Irql = thread?.Irql ?? 0,
            Time = Clock.InterruptTime,
            Exception = exception,
        };
        lock (_stopLock)
        {
            if (_stopReason != MachineStopReason.None)
            {
                return new MachineHaltedException();
            }

            _bugCheck = info;
        }

        Trace.Record(TraceEventKind.BugCheck, info.ToString().Replace(Environment.NewLine, " ", StringComparison.Ordinal) + " — " + diagnosis);
        info.RecentTrace = Trace.Recent(Options.RecentTraceCapacity);
        Stop(MachineStopReason.BugCheck, null);
        return new MachineHaltedException();
    }

    /// <summary>Maps an exception that escaped driver code to 0x1E or 0x7E.</summary>
    /// <summary>Whether an exception escaping driver code is the driver's fault (not the machine unwinding a thread).</summary>
    internal static bool IsDriverFault(Exception ex) => ex is not MachineHaltedException and not ThreadTerminatedException;

    /// <summary>Stops the machine for an exception that escaped driver code; returns the exception that unwinds the thread.</summary>
    internal MachineHaltedException RaiseDriverException(KThread thread, Exception ex)
    {
        uint code = thread.Process.IsSystem ? BugCheckCatalogue.SYSTEM_THREAD_EXCEPTION_NOT_HANDLED : BugCheckCatalogue.KMODE_EXCEPTION_NOT_HANDLED;
        NtStatus exceptionCode = ex switch
        {
            NtStatusException s => s.Status,
            NullReferenceException or IndexOutOfRangeException or AccessViolationException or InvalidCastException => NtStatus.STATUS_ACCESS_VIOLATION,
            DivideByZeroException => NtStatus.STATUS_INTEGER_DIVIDE_BY_ZERO,
            OverflowException => NtStatus.STATUS_INTEGER_OVERFLOW,
            _ => NtStatus.STATUS_CLR_EXCEPTION,
        };
        string? routine = thread.CurrentCallback?.Method.Name ?? thread.CurrentRoutine;
        string where = routine is null ? "driver code" : thread.CurrentDriver + "!" + routine;
        return RaiseBugCheck(
            code,
            (uint)exceptionCode,
            StableCodeAddress(where),
            0,
            0,
            $"{where} threw {ex.GetType().Name}: {ex.Message} Driver code must not let exceptions escape; on Windows this is a crash.",
            ex);
    }

    /// <summary>
    /// A stand-in for the faulting code address of 0x1E / 0x7E: a hash of the routine's name that is the same in every
    /// process (string.GetHashCode is randomized per process, which would break replaying a saved schedule elsewhere).
    /// </summary>
    internal static ulong StableCodeAddress(string routine)
    {
        uint hash = 2166136261;   // FNV-1a
        foreach (char c in routine)
        {
            hash = (hash ^ c) * 16777619;
        }

        // Shaped like a kernel-mode code address.
        return 0xFFFF_A000_0000_0000UL + ((ulong)hash << 4);
    }

    /// <summary>An exception reached the top of a simulated thread.</summary>
    internal void OnUnhandledException(KThread thread, Exception ex)
    {
        if (thread.Process.IsSystem || thread.SystemCallDepth > 0)
        {
            RaiseDriverException(thread, ex);
            return;
        }

        // An application exception ends its process; the host rethrows it.
        KProcess process = thread.Process;
        process.UnhandledException ??= ex;
        if (process.MainThread is KThread main && main != thread)
        {
            Dispatcher.RequestTermination(main);
        }
    }

    internal void ReportDeadlock(string threads)
    {
        string report = "Deadlock: every thread waits and no timer is armed." + Environment.NewLine + threads;
        Trace.Record(TraceEventKind.Deadlock, report);
        Stop(MachineStopReason.Deadlock, report);
    }

    internal void ReportLivelock(long steps)
    {
        string report = $"The run reached the step bound ({steps} scheduling points) without finishing: a livelock or a hang.";
        Trace.Record(TraceEventKind.Deadlock, report);
        Stop(MachineStopReason.StepBound, report);
    }

    private void Stop(MachineStopReason reason, string? report)
    {
        lock (_stopLock)
        {
            if (_stopReason == MachineStopReason.None)
            {
                _stopReason = reason;
                _stopReport = report;
            }

            _halted = true;
        }

        if (!IsDeterministic)
        {
            // Wake every parked thread so it unwinds.
            foreach (KThread t in LiveThreads())
            {
                t.Gate.Release();
            }
        }
    }
}

/// <summary>Thrown by the hosting API when a deterministic run reached its step bound (a livelock or hang).</summary>
public sealed class StepBoundExceededException : Exception
{
    public StepBoundExceededException()
    {
    }

    public StepBoundExceededException(string message)
        : base(message)
    {
    }

    public StepBoundExceededException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
