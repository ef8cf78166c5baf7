using IrpLab.Scheduling;

namespace IrpLab;

/// <summary>A device's interrupt line as the interrupt controller sees it (level-sensitive lines are sampled).</summary>
internal interface IInterruptLine
{
    uint Vector { get; }

    /// <summary>Whether the device still asserts its line (read with the dispatcher lock held).</summary>
    bool IsAsserted { get; }
}

/// <summary>
/// Interrupt vectors and their delivery (ReactOS ntoskrnl/ke/i386/irqobj.c KiChainedDispatch in shape). A device
/// asserting its line makes the vector pending on one processor of the interrupt's affinity (round robin); a
/// per-processor machine service thread delivers it: at the interrupt's IRQL, holding its spin lock, it calls the
/// chained ISRs (all of them for a latched vector, until one claims it for a level-sensitive one). Delivery is a
/// schedulable operation, and the interrupt thread runs like a raised thread: it needs no free processor, so an
/// interrupt can arrive while another thread holds its processor at DISPATCH_LEVEL, as on Windows. A level-sensitive
/// line still asserted after the ISRs ran is delivered again; after <see cref="StormLimit"/> deliveries in a row
/// that is an interrupt storm. Vector state is guarded by the dispatcher lock.
/// </summary>
internal sealed class InterruptController
{
    /// <summary>Back-to-back deliveries of a still-asserted level-sensitive line before HARDWARE_INTERRUPT_STORM.</summary>
    public const int StormLimit = 250;

    private readonly Machine _machine;
    private readonly Dictionary<uint, VectorState> _vectors = [];
    private readonly IsrQueue?[] _processors;

    public InterruptController(Machine machine)
    {
        _machine = machine;
        _processors = new IsrQueue?[machine.Options.Processors];
    }

    /// <summary>Adds a device line (a simulated device) to its vector.</summary>
    public void AddLine(IInterruptLine line)
    {
        lock (_machine.Dispatcher.SyncRoot)
        {
            GetVector(line.Vector).Lines.Add(line);
        }
    }

    /// <summary>KeConnectInterrupt: STATUS_INVALID_PARAMETER when the vector is taken and cannot be shared.</summary>
    public NtStatus Connect(KInterrupt interrupt)
    {
        bool assertNow;
        lock (_machine.Dispatcher.SyncRoot)
        {
            VectorState vector = GetVector(interrupt.Vector);
            if (vector.Chain.Count > 0)
            {
                KInterrupt first = vector.Chain[0];
                if (!first.ShareVector || !interrupt.ShareVector || first.Mode != interrupt.Mode)
                {
                    return NtStatus.STATUS_INVALID_PARAMETER;
                }
            }

            vector.Chain.Add(interrupt);
            interrupt.IsConnected = true;
            assertNow = vector.LineAsserted();
        }

        if (assertNow)
        {
            Assert(interrupt.Vector);
        }

        return NtStatus.STATUS_SUCCESS;
    }

    /// <summary>Takes the interrupt off its vector (an ISR already running finishes; see IoDisconnectInterrupt).</summary>
    public void Disconnect(KInterrupt interrupt)
    {
        lock (_machine.Dispatcher.SyncRoot)
        {
            if (_vectors.TryGetValue(interrupt.Vector, out VectorState? vector))
            {
                vector.Chain.Remove(interrupt);
            }

            interrupt.IsConnected = false;
        }
    }

    /// <summary>
    /// A device asserted its interrupt line (any thread, any IRQL; the dispatcher lock may be held, as in a device's
    /// completion timer). Makes the vector pending on a processor unless it is pending already (edges merge). With no
    /// ISR connected the interrupt is lost.
    /// </summary>
    public void Assert(uint vectorNumber)
    {
        KThread? created = null;
        lock (_machine.Dispatcher.SyncRoot)
        {
            if (!_vectors.TryGetValue(vectorNumber, out VectorState? vector) || vector.Chain.Count == 0 || vector.Pending)
            {
                return;
            }

            vector.Pending = true;
            int processor = vector.ChooseProcessor(_processors.Length);
            IsrQueue queue = _processors[processor] ??= new IsrQueue(processor);
            queue.Pending.Enqueue(vector);
            if (queue.Thread is null)
            {
                KThread? thread = null;
                thread = _machine.CreateThread(_machine.SystemProcess, "Interrupt" + processor, () => RunIsrThread(thread!, queue),
                    isService: true, start: false);

                // Raised from the start (see RunIsrThread), so even its first run needs no free processor.
                thread.Irql = IrqlLevel.High;
                thread.Processor = processor;
                queue.Thread = thread;
                created = thread;
            }

            queue.Wake.Signal(_machine.Dispatcher);
        }

        if (created is not null)
        {
            _machine.Scheduler.Start(created);
        }
    }

    /// <summary>Connected interrupts whose ISR belongs to <paramref name="driver"/> (unload checks).</summary>
    public void CollectConnected(string driver, List<KInterrupt> into)
    {
        lock (_machine.Dispatcher.SyncRoot)
        {
            foreach (VectorState vector in _vectors.Values)
            {
                foreach (KInterrupt i in vector.Chain)
                {
                    if (string.Equals(i.OwnerDriver, driver, StringComparison.OrdinalIgnoreCase))
                    {
                        into.Add(i);
                    }
                }
            }
        }
    }

    /// <summary>
    /// Acquires an interrupt spin lock at DIRQL (the ISR's path and KeSynchronizeExecution's). Like KeAcquireSpinLock
    /// but without its IRQL rules, which are about DISPATCH_LEVEL locks.
    /// </summary>
    public static void AcquireInterruptLock(KThread t, KSpinLock spinLock)
    {
        Machine m = t.Machine;
        m.Scheduler.Yield(t, SchedulingPointKind.LockAcquire);
        if (spinLock.Owner == t)
        {
            throw m.RaiseBugCheck(BugCheckCatalogue.SPIN_LOCK_ALREADY_OWNED, spinLock.DebugAddress(m), (ulong)t.Id, 0, 0,
                $"{t} acquired an interrupt spin lock it already holds (KeSynchronizeExecution from inside the ISR or a "
                + "synchronize routine?). On Windows this processor would spin forever.");
        }

        SpinLockCore.Take(t, spinLock);
    }

    public static void ReleaseInterruptLock(KThread t, KSpinLock spinLock)
    {
        Machine m = t.Machine;
        if (spinLock.Owner != t)
        {
            throw m.RaiseBugCheck(BugCheckCatalogue.SPIN_LOCK_NOT_OWNED, spinLock.DebugAddress(m), (ulong)t.Id, 0, 0,
                $"{t} released an interrupt spin lock it does not hold.");
        }

        SpinLockCore.Give(m, spinLock);

        m.Scheduler.Yield(t, SchedulingPointKind.LockRelease);
    }

    private VectorState GetVector(uint vector)
    {
        if (!_vectors.TryGetValue(vector, out VectorState? state))
        {
            state = new VectorState(vector);
            _vectors.Add(vector, state);
        }

        return state;
    }

    /// <summary>
    /// The body of a processor's interrupt thread. Between interrupts it stays above DISPATCH_LEVEL without holding
    /// its processor (its IRQL is set directly, not through KeRaiseIrql), which is what lets the scheduler run it
    /// whenever an interrupt is pending: an interrupt preempts whatever the processor was doing.
    /// </summary>
    private void RunIsrThread(KThread thread, IsrQueue queue)
    {
        while (true)
        {
            ServiceWakeObject.WaitForWork(thread, queue.WaitObjects);
            VectorState vector;
            lock (_machine.Dispatcher.SyncRoot)
            {
                if (!queue.Pending.TryDequeue(out VectorState? next))
                {
                    continue;
                }

                vector = next;
                vector.Pending = false;
                queue.Chain.Clear();
                queue.Chain.AddRange(vector.Chain);
            }

            Deliver(thread, queue, vector);
        }
    }

    private void Deliver(KThread thread, IsrQueue queue, VectorState vector)
    {
        thread.Processor = queue.Processor;
        bool claimed = false;
        KInterrupt? first = null;
        foreach (KInterrupt interrupt in queue.Chain)
        {
            first ??= interrupt;
            thread.Irql = interrupt.Irql;
            AcquireInterruptLock(thread, interrupt.ActualLock);
            if (!interrupt.IsConnected)
            {
                ReleaseInterruptLock(thread, interrupt.ActualLock);
                continue;
            }

            bool handled = CallIsr(thread, interrupt);
            ReleaseInterruptLock(thread, interrupt.ActualLock);
            claimed |= handled;
            if (handled && interrupt.Mode == KInterruptMode.LevelSensitive)
            {
                break;
            }
        }

        thread.Irql = IrqlLevel.High;
        bool again;
        lock (_machine.Dispatcher.SyncRoot)
        {
            again = first is { Mode: KInterruptMode.LevelSensitive } && vector.LineAsserted();
            vector.Storm = again ? vector.Storm + 1 : 0;
        }

        if (!again)
        {
            return;
        }

        if (vector.Storm >= StormLimit)
        {
            thread.CurrentDriver = first!.OwnerDriver;
            thread.CurrentRoutine = first.RoutineName;
            throw _machine.RaiseBugCheck(BugCheckCatalogue.HARDWARE_INTERRUPT_STORM, first!.DebugAddress(_machine),
                first.ServiceContext is KernelObject k ? k.DebugAddress(_machine) : 0, first.DebugAddress(_machine),
                queue.Chain.Count > 1 ? 2u : 1u,
                $"Level-sensitive interrupt {vector.Number} stayed asserted through {StormLimit} deliveries in a row: "
                + (claimed
                    ? $"ISR {first.RoutineName} claims it but does not acknowledge the device, so the line never drops."
                    : "no ISR claims it. An ISR must acknowledge its device (clear the interrupt status) before returning TRUE."));
        }

        Assert(vector.Number);
    }

    private bool CallIsr(KThread thread, KInterrupt interrupt)
    {
        string? savedDriver = thread.CurrentDriver;
        string? savedRoutine = thread.CurrentRoutine;
        thread.CurrentDriver = interrupt.OwnerDriver;
        thread.CurrentRoutine = interrupt.RoutineName;
        bool handled;
        try
        {
            handled = interrupt.ServiceRoutine(interrupt, interrupt.ServiceContext);
        }
        catch (Exception ex) when (ex is not MachineHaltedException)
        {
            throw _machine.RaiseDriverException(thread, ex);
        }

        if (thread.Irql != interrupt.Irql)
        {
            byte irql = thread.Irql;
            ulong address = interrupt.DebugAddress(_machine);
            throw _machine.Verifies(interrupt.OwnerDriver)
                ? _machine.RaiseBugCheck(BugCheckCatalogue.DRIVER_VERIFIER_DETECTED_VIOLATION, 0x111, address, interrupt.Irql, irql,
                    $"ISR {interrupt.RoutineName} returned at {IrqlLevel.Name(irql)}; it was called at {IrqlLevel.Name(interrupt.Irql)} and must return there.")
                : _machine.RaiseBugCheck(BugCheckCatalogue.IRQL_UNEXPECTED_VALUE,
                    ((ulong)irql << 16) | ((ulong)interrupt.Irql << 8) | 3, address, address, 0,
                    $"ISR {interrupt.RoutineName} returned at {IrqlLevel.Name(irql)}; it was called at {IrqlLevel.Name(interrupt.Irql)} and must return there.");
        }

        thread.CurrentDriver = savedDriver;
        thread.CurrentRoutine = savedRoutine;
        return handled;
    }

    /// <summary>One vector: its ISR chain, its device lines, whether it is pending delivery.</summary>
    private sealed class VectorState
    {
        private int _nextProcessor;

        public VectorState(uint number)
        {
            Number = number;
        }

        public uint Number { get; }

        public List<KInterrupt> Chain { get; } = [];

        public List<IInterruptLine> Lines { get; } = [];

        /// <summary>Queued to a processor and not yet taken by its interrupt thread.</summary>
        public bool Pending;

        /// <summary>Consecutive deliveries after which a level-sensitive line was still asserted.</summary>
        public int Storm;

        public bool LineAsserted()
        {
            foreach (IInterruptLine line in Lines)
            {
                if (line.IsAsserted)
                {
                    return true;
                }
            }

            return false;
        }

        /// <summary>The next processor, round robin, among those the first ISR's affinity allows.</summary>
        public int ChooseProcessor(int processors)
        {
            ulong mask = Chain[0].ProcessorEnableMask;
            for (int i = 0; i < processors; i++)
            {
                int p = (_nextProcessor + i) % processors;
                if ((mask & (1UL << p)) != 0)
                {
                    _nextProcessor = p + 1;
                    return p;
                }
            }

            return 0;
        }
    }

    /// <summary>One processor's pending interrupts and its interrupt thread.</summary>
    private sealed class IsrQueue
    {
        public IsrQueue(int processor)
        {
            Processor = processor;
            Wake = new ServiceWakeObject(counting: true);
            WaitObjects = [Wake];
        }

        public int Processor { get; }

        public ServiceWakeObject Wake { get; }

        public DispatcherObject[] WaitObjects { get; }

        public Queue<VectorState> Pending { get; } = new();

        /// <summary>The chain being delivered (a copy, reused).</summary>
        public List<KInterrupt> Chain { get; } = [];

        public KThread? Thread;
    }
}
