using IrpLab.Scheduling;

namespace IrpLab;

/// <summary>How a <see cref="Machine"/> runs.</summary>
public sealed class MachineOptions
{
    /// <summary>
    /// False (real mode): simulated threads run concurrently on OS threads in real time.
    /// True (deterministic mode): one simulated thread runs at a time, chosen at each scheduling point from the
    /// seed; time is virtual and jumps to the next timer when every thread waits.
    /// </summary>
    public bool Deterministic { get; init; }

    /// <summary>The seed of the scheduling strategy in deterministic mode.</summary>
    public ulong Seed { get; init; }

    /// <summary>Simulated processors (1 to 64).</summary>
    public int Processors { get; init; } = 2;

    /// <summary>
    /// Driver Verifier checks (the 0xC4 and 0xC9 bug checks, deadlock detection, the IRP history) and the application
    /// verifier's warnings. On by default. The kernel's own checks (0x0A, 0x0F, 0x10, 0x1E, 0x35, 0x44, 0x7E, 0xB8, 0xCE,
    /// 0xD1) are raised with or without it.
    /// </summary>
    public bool Verifier { get; init; } = true;

    /// <summary>
    /// The drivers the verifier checks, by the name they were loaded under (case-insensitive), as Driver Verifier's
    /// per-driver selection (<c>verifier /driver name.sys</c>); null, the default, verifies every driver. A check
    /// applies when the driver at fault is verified: for I/O checks the driver whose stack location holds the IRP, for
    /// IRQL and spin lock checks the driver whose routine is running. Code outside any driver (the hosting API's
    /// RunKernel) is verified only when every driver is. A driver that is not verified still gets the kernel's checks,
    /// with the kernel's codes (0x0A instead of 0xC4/0x122, for instance). The verifier's IRP tracking (no recycled
    /// packets, the per-IRP history) and the application warnings follow <see cref="Verifier"/> alone.
    /// </summary>
    public IReadOnlyCollection<string>? VerifiedDrivers { get; init; }

    /// <summary>Overrides the seeded random strategy (exploration, replay). Deterministic mode only.</summary>
    public ISchedulingStrategy? Strategy { get; init; }

    /// <summary>Stop the machine after this many scheduling points (a livelock or hang). Deterministic mode only.</summary>
    public long MaxSteps { get; init; } = long.MaxValue;

    /// <summary>
    /// Let the strategy race timers against running threads (deterministic mode only; off by default). Normally virtual
    /// time moves only when no thread can run, so a wait with a timeout never loses to a thread that is about to
    /// satisfy it. With this on, every scheduling point where a timer is armed offers one more candidate,
    /// <see cref="SchedulingCandidate.AdvanceTime"/>: choosing it fires the next due timer first. The choice is
    /// recorded and replayed like any other decision.
    /// </summary>
    public bool ExploreTimeouts { get; init; }

    /// <summary>Keep every trace event (for replay comparison and tests); otherwise only a recent window is kept.</summary>
    public bool CaptureTrace { get; init; }

    /// <summary>Record thread, wait, IRP, DPC, timer and APC events as well as prints.</summary>
    public TraceLevel TraceLevel { get; init; } = TraceLevel.Normal;

    /// <summary>How many recent events a bug check report carries.</summary>
    public int RecentTraceCapacity { get; init; } = 256;
}
