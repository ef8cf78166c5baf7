using System.Text;

namespace IrpLab;

/// <summary>
/// Driver Verifier's Deadlock Detection for spin locks (the cancel spin lock included): each thread's held locks, and
/// one machine-wide graph of acquisition order. Acquiring B while holding A records the edge A → B; a new edge that
/// closes a cycle is a lock-hierarchy violation, DRIVER_VERIFIER_DETECTED_VIOLATION (0xC4) with P1 = 0x1001,
/// P2 = the lock being acquired (it closed the cycle), P3 = the lock held. The graph remembers every order ever used,
/// so the bug check comes on one benign interleaving, long before two threads actually deadlock on it.
/// <para>The held locks are tracked whenever the machine's verifier is on, so that a verified driver's routine called
/// with a lock held (a cancel routine under the cancel spin lock) is seen; edges are recorded only when the acquiring
/// driver is verified. Interrupt spin locks (KeSynchronizeExecution) are not tracked.</para>
/// </summary>
internal sealed class DeadlockVerifier
{
    public const uint LockHierarchyViolation = 0x1001;

    private readonly Machine _machine;
    private readonly Lock _lock = new();

    /// <summary>For each lock, the locks acquired while it was held, with where that order was first seen. Guarded by <see cref="_lock"/>.</summary>
    private readonly Dictionary<KSpinLock, List<Edge>> _after = [];

    public DeadlockVerifier(Machine machine)
    {
        _machine = machine;
    }

    /// <summary>Before <paramref name="t"/> spins for <paramref name="spinLock"/>: records the order, then counts the lock as held.</summary>
    public void BeforeAcquire(KThread t, KSpinLock spinLock)
    {
        List<KSpinLock> held = t.HeldSpinLocks ??= [];
        if (held.Count > 0 && _machine.Verifies(t))
        {
            foreach (KSpinLock h in held)
            {
                AddEdge(t, h, spinLock);
            }
        }

        held.Add(spinLock);
    }

    public static void OnRelease(KThread t, KSpinLock spinLock)
    {
        List<KSpinLock>? held = t.HeldSpinLocks;
        int index = held?.LastIndexOf(spinLock) ?? -1;
        if (index >= 0)
        {
            held!.RemoveAt(index);
        }
    }

    private void AddEdge(KThread t, KSpinLock from, KSpinLock to)
    {
        List<Edge>? cycle;
        lock (_lock)
        {
            if (!_after.TryGetValue(from, out List<Edge>? edges))
            {
                edges = [];
                _after.Add(from, edges);
            }

            foreach (Edge e in edges)
            {
                if (e.To == to)
                {
                    return;
                }
            }

            // A new order: does the reverse already exist, directly or through other locks?
            cycle = FindPath(to, from);
            edges.Add(new Edge(from, to, Where(t)));
        }

        if (cycle is null)
        {
            return;
        }

        var b = new StringBuilder();
        b.Append(Where(t)).Append(" acquires ").Append(Name(to)).Append(" while holding ").Append(Name(from))
            .Append(", but the opposite order was already used: ");
        foreach (Edge e in cycle)
        {
            b.Append(Name(e.From)).Append(" then ").Append(Name(e.To)).Append(" (").Append(e.Where).Append("); ");
        }

        b.Append("the locks form a cycle, so two threads taking them in these orders at the same time deadlock. ")
            .Append("Define one order for the driver's locks (the cancel spin lock included) and always acquire them in it; ")
            .Append("a cancel routine is called holding the cancel spin lock, so take it first, or release it before taking your own lock.");
        throw _machine.RaiseBugCheck(BugCheckCatalogue.DRIVER_VERIFIER_DETECTED_VIOLATION, LockHierarchyViolation,
            to.DebugAddress(_machine), from.DebugAddress(_machine), 0, b.ToString());
    }

    /// <summary>The edges of a path <paramref name="start"/> →* <paramref name="target"/>, or null (breadth-first, so the shortest).</summary>
    private List<Edge>? FindPath(KSpinLock start, KSpinLock target)
    {
        var via = new Dictionary<KSpinLock, Edge>();
        var queue = new Queue<KSpinLock>();
        queue.Enqueue(start);
        while (queue.Count > 0)
        {
            KSpinLock current = queue.Dequeue();
            if (!_after.TryGetValue(current, out List<Edge>? edges))
            {
                continue;
            }

            foreach (Edge e in edges)
            {
                if (e.To == start || via.ContainsKey(e.To))
                {
                    continue;
                }

                via.Add(e.To, e);
                if (e.To == target)
                {
                    var path = new List<Edge>();
                    for (KSpinLock at = target; at != start; at = via[at].From)
                    {
                        path.Add(via[at]);
                    }

                    path.Reverse();
                    return path;
                }

                queue.Enqueue(e.To);
            }
        }

        return null;
    }

    private string Name(KSpinLock spinLock)
        => spinLock == _machine.Io.CancelSpinLock
            ? "the cancel spin lock"
            : "spin lock " + spinLock.DebugAddress(_machine).ToString("X", System.Globalization.CultureInfo.InvariantCulture);

    private static string Where(KThread t)
    {
        string? routine = t.CurrentCallback?.Method.Name ?? t.CurrentRoutine;
        string who = t.CurrentDriver is null ? "kernel code" : routine is null ? t.CurrentDriver : t.CurrentDriver + "!" + routine;
        return who + " on " + t;
    }

    private readonly record struct Edge(KSpinLock From, KSpinLock To, string Where);
}
