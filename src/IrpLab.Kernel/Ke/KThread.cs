using System.Text;
using IrpLab.Scheduling;

namespace IrpLab;

/// <summary>
/// A simulated thread (KTHREAD/ETHREAD). It becomes signaled when it terminates. Its carrier is an OS thread;
/// whether it may run is up to the machine's scheduler. Per-thread state that Windows keeps in the KTHREAD and
/// the TEB (IRQL while raised, wait blocks, APC queues, last error) lives here.
/// </summary>
public sealed class KThread : DispatcherObject
{
    [ThreadStatic]
    private static KThread? t_current;

    private readonly Action _body;
    private WaitBlock[] _waitBlocks;

    internal KThread(Machine machine, KProcess process, int id, string name, Action body, bool isService)
    {
        Machine = machine;
        Process = process;
        Id = id;
        Name = name;
        _body = body;
        IsService = isService;
        DispatcherType = DispatcherObjectType.ThreadObject;
        _waitBlocks = [new WaitBlock(this), new WaitBlock(this), new WaitBlock(this), new WaitBlock(this)];
        WaitTimer = new ThreadWaitTimer(this);
        State = KThreadState.Initialized;
    }

    /// <summary>The thread id (CLIENT_ID.UniqueThread).</summary>
    public int Id { get; }

    public string Name { get; }

    public KProcess Process { get; }

    internal Machine Machine { get; }

    internal static KThread? CurrentOrNull => t_current;

    internal static KThread Current
        => t_current ?? throw new InvalidOperationException(
            "This routine must be called from a simulated thread (a driver routine, a system thread or an application thread running in a Machine).");

    internal ThreadGate Gate { get; } = new();

    /// <summary>Set when the carrier finishes; only the host waits on it.</summary>
    internal ManualResetEventSlim HostExited { get; } = new(false);

    internal Thread? OsThread;

    internal volatile KThreadState State;

    /// <summary>The IRQL of the processor while this thread runs on it.</summary>
    internal byte Irql;

    internal int Processor;

    /// <summary>Set while the machine unwinds this thread after a stop or at shutdown.</summary>
    internal volatile bool Unwinding;

    /// <summary>A machine service thread (DPC, worker): idle waits do not count in deadlock reports.</summary>
    internal bool IsService { get; }

    internal NtStatus ExitStatus;

    // ---- waits (guarded by the dispatcher lock) ----
    internal NtStatus WaitStatus;
    internal int WaitCount;
    internal WaitType WaitType;
    internal KProcessorMode WaitMode;
    internal bool WaitAlertable;
    internal ThreadWaitTimer WaitTimer { get; }
    internal KSpinLock? SpinningOn;

    /// <summary>Spin locks held (or being acquired), oldest first: the verifier's deadlock detection.</summary>
    internal List<KSpinLock>? HeldSpinLocks;

    /// <summary>Mutexes this thread owns, abandoned if it exits holding them.</summary>
    internal List<KMutex>? OwnedMutexes;

    internal int KernelApcDisable;

    internal Queue<UserApc>? UserApcs;

    internal Queue<Action>? KernelApcs;

    // ---- user mode (TEB) ----
    internal uint LastError;
    internal NtStatus LastStatus;
    internal KProcessorMode PreviousMode = KProcessorMode.KernelMode;
    internal int SystemCallDepth;
    internal volatile bool TerminationRequested;

    /// <summary>The driver routine running on this thread, for crash attribution.</summary>
    internal string? CurrentDriver;
    internal string? CurrentRoutine;

    /// <summary>The dispatch, completion or cancel routine running on this thread (named lazily, for crash reports).</summary>
    internal Delegate? CurrentCallback;

    /// <summary>The last METHOD_NEITHER/buffered caller-buffer descriptor, reused when the same buffer comes back.</summary>
    internal UserBuffer? CachedOutputBuffer;

    internal UserBuffer? CachedInputBuffer;

    /// <summary>The completion port this thread removes packets from (it is "associated" with it).</summary>
    internal CompletionPort? AssociatedPort;

    /// <summary>Counted in the associated port's running threads.</summary>
    internal bool CountedAsActive;

    /// <summary>A packet handed straight to this thread by the port it waited on.</summary>
    internal CompletionPacket PortPacket;

    internal bool PortPacketValid;

    /// <summary>Scratch space for batched port removals (GetQueuedCompletionStatusEx), reused.</summary>
    internal CompletionPacket[]? PortScratch;

    /// <summary>The port this thread is blocked in KeRemoveQueue on.</summary>
    internal CompletionPort? WaitingOnPort;

    /// <summary>A freed IRP kept by the thread that freed it, so the next allocation here takes no lock.</summary>
    internal Irp? CachedIrp;

    /// <summary>A returned system buffer kept the same way.</summary>
    internal byte[]? CachedBuffer;

    /// <summary>The head of this thread's IRP list (requests it issued that have not completed).</summary>
    internal Irp? IrpListHead;

    /// <summary>The thread is executing a DPC routine (on its processor).</summary>
    internal bool InDpc;

    internal WaitBlock GetWaitBlock(int index)
    {
        if (index >= _waitBlocks.Length)
        {
            int oldLength = _waitBlocks.Length;
            Array.Resize(ref _waitBlocks, Math.Max(index + 1, 65));
            for (int i = oldLength; i < _waitBlocks.Length; i++)
            {
                _waitBlocks[i] = new WaitBlock(this);
            }
        }

        return _waitBlocks[index];
    }

    internal override ObjectType Type => ObjectType.Thread;

    /// <summary>What this thread waits on, for deadlock reports.</summary>
    internal string DescribeWait()
    {
        if (SpinningOn is not null)
        {
            return "spin lock " + SpinningOn.DebugAddress(Machine).ToString("X", System.Globalization.CultureInfo.InvariantCulture)
                + " (held by thread " + (SpinningOn.Owner?.Id ?? 0) + ")";
        }

        var b = new StringBuilder();
        for (int i = 0; i < WaitCount; i++)
        {
            DispatcherObject? o = _waitBlocks[i].Object;
            if (o is null)
            {
                continue;
            }

            if (b.Length > 0)
            {
                b.Append(WaitType == WaitType.WaitAll ? " and " : " or ");
            }

            b.Append(o.DebugName(Machine));
            if (o is KThread t)
            {
                b.Append(" (thread ").Append(t.Id).Append(" \"").Append(t.Name).Append("\" to exit)");
            }
            else if (o is KMutex m && m.Owner is not null)
            {
                b.Append(" (owned by thread ").Append(m.Owner.Id).Append(')');
            }
        }

        if (WaitCount == 0)
        {
            b.Append(WaitingOnPort is CompletionPort port ? "a completion packet from " + port.DebugName(Machine) : "nothing (a delay)");
        }

        if (WaitTimer.Armed)
        {
            b.Append(", with a timeout");
        }

        return b.ToString();
    }

    internal void CarrierMain()
    {
        t_current = this;
        try
        {
            Machine.Scheduler.OnCarrierStart(this);
            if (!Machine.IsHalted && !Unwinding)
            {
                Machine.TraceThread(this, created: true);
                _body();
            }
        }
        catch (MachineHaltedException)
        {
        }
        catch (ThreadTerminatedException terminated)
        {
            ExitStatus = terminated.Status;
        }
        catch (Exception ex)
        {
            Machine.OnUnhandledException(this, ex);
        }
        finally
        {
            try
            {
                if (!Machine.IsHalted && !Unwinding)
                {
                    Machine.Io.CancelThreadIo(this);
                }

                Process.OnThreadExiting(this);
            }
            catch (MachineHaltedException)
            {
            }
            catch (Exception ex)
            {
                Machine.OnUnhandledException(this, ex);
            }

            Machine.Dispatcher.Terminate(this);
            Machine.TraceThread(this, created: false);
            Machine.Scheduler.Exited(this);
            t_current = null;
        }
    }

    /// <summary>Makes the calling OS thread carry <paramref name="thread"/> (a host thread attached in real mode).</summary>
    internal static void Attach(KThread thread) => t_current = thread;

    internal static void Detach() => t_current = null;

    public override string ToString() => "thread " + Id + " \"" + Name + "\"";
}

/// <summary>A wait's timeout: when it expires the thread's wait ends with STATUS_TIMEOUT.</summary>
internal sealed class ThreadWaitTimer : TimerEntry
{
    private readonly KThread _thread;

    public ThreadWaitTimer(KThread thread)
    {
        _thread = thread;
    }

    internal override void Expire(KernelDispatcher dispatcher)
    {
        if (_thread.State == KThreadState.Waiting)
        {
            dispatcher.Unwait(_thread, NtStatus.STATUS_TIMEOUT);
        }
    }

    internal override string Describe() => "timeout of " + _thread;
}

/// <summary>Unwinds a thread that PsTerminateSystemThread or process termination ended.</summary>
internal sealed class ThreadTerminatedException : Exception
{
    public ThreadTerminatedException(NtStatus status)
        : base("The thread was terminated.")
    {
        Status = status;
    }

    public ThreadTerminatedException()
    {
    }

    public ThreadTerminatedException(string message)
        : base(message)
    {
    }

    public ThreadTerminatedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public NtStatus Status { get; }
}
