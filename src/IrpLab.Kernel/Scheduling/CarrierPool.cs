namespace IrpLab.Scheduling;

/// <summary>
/// Idle carrier OS threads shared by every machine in the process. Creating and ending an OS thread costs far more
/// (a few hundred microseconds on a small VM) than everything else a short deterministic run does, and an explorer
/// runs thousands of machines, so a carrier whose simulated thread has terminated parks here and carries the next
/// simulated thread any machine starts. A carrier idle for <see cref="IdleTimeoutMilliseconds"/>, or one that finds
/// the pool full, ends.
/// </summary>
/// <remarks>
/// A carrier keeps nothing from the thread it carried: <see cref="KThread.CarrierMain"/> sets and clears the one
/// thread-static, and carriers are started with the execution context suppressed, so no AsyncLocal state of the
/// host that created one flows into a later machine.
/// </remarks>
internal static class CarrierPool
{
    public const int MaxIdle = 64;
    public const int IdleTimeoutMilliseconds = 10_000;
    private const int SpinIterations = 64;

    private static readonly Lock s_lock = new();
    private static readonly List<Carrier> s_idle = [];

    /// <summary>Carriers created since the process started (for tests and measurements).</summary>
    public static long Created;

    /// <summary>Simulated threads started on a reused carrier.</summary>
    public static long Reused;

    /// <summary>Runs <paramref name="thread"/>'s <see cref="KThread.CarrierMain"/> on an idle carrier, or on a new one.</summary>
    public static void Start(KThread thread)
    {
        Carrier? carrier = null;
        lock (s_lock)
        {
            if (s_idle.Count > 0)
            {
                carrier = s_idle[^1];
                s_idle.RemoveAt(s_idle.Count - 1);
            }
        }

        if (carrier is null)
        {
            Interlocked.Increment(ref Created);
            carrier = new Carrier(thread);
            thread.OsThread = carrier.OsThread;
            carrier.Launch();
            return;
        }

        Interlocked.Increment(ref Reused);
        thread.OsThread = carrier.OsThread;
        carrier.Assign(thread);
    }

    /// <summary>A carrier finished its thread: park it, unless the pool is full (then it ends).</summary>
    private static bool TryPark(Carrier carrier)
    {
        lock (s_lock)
        {
            if (s_idle.Count >= MaxIdle)
            {
                return false;
            }

            s_idle.Add(carrier);
            return true;
        }
    }

    /// <summary>An idle carrier timed out: it ends if still idle; false if <see cref="Start"/> just took it.</summary>
    private static bool TryRetire(Carrier carrier)
    {
        lock (s_lock)
        {
            return s_idle.Remove(carrier);
        }
    }

    private sealed class Carrier
    {
        private readonly ThreadGate _gate = new();
        private KThread? _work;

        public Carrier(KThread first)
        {
            _work = first;
            OsThread = new Thread(Main, maxStackSize: 1 << 20) { IsBackground = true, Name = "irplab:" + first.Name };
        }

        public Thread OsThread { get; }

        public void Launch()
        {
            using (ExecutionContext.SuppressFlow())
            {
                OsThread.Start();
            }
        }

        public void Assign(KThread thread)
        {
            Volatile.Write(ref _work, thread);
            _gate.Release();
        }

        /// <summary>
        /// Spins briefly before blocking: an explorer starts the next machine's threads within microseconds, and a
        /// carrier taken while still spinning costs no OS wake-up (+10 to +60 % runs per second on short runs).
        /// True when work arrived (the release consumed).
        /// </summary>
        private bool SpinForWork()
        {
            var spinner = default(SpinWait);
            for (int i = 0; i < SpinIterations; i++)
            {
                if (Volatile.Read(ref _work) is not null)
                {
                    return _gate.Wait(0);
                }

                spinner.SpinOnce(sleep1Threshold: -1);
            }

            return false;
        }

        private void Main()
        {
            KThread? thread = Interlocked.Exchange(ref _work, null);
            while (thread is not null)
            {
                thread.CarrierMain();
                thread = null;
                if (!TryPark(this))
                {
                    return;
                }

                // Every Assign releases the gate exactly once, and every park consumes exactly one release.
                if (!SpinForWork() && !_gate.Wait(IdleTimeoutMilliseconds))
                {
                    if (TryRetire(this))
                    {
                        return;
                    }

                    // Start took this carrier just as the wait timed out; its Assign releases the gate.
                    _gate.Wait();
                }

                thread = Interlocked.Exchange(ref _work, null);
                Thread.CurrentThread.Name = "irplab:" + thread!.Name;
            }
        }
    }
}
