namespace IrpLab.Testing;

/// <summary>How <see cref="Explorer"/> explores a scenario. Every run is a fresh deterministic machine.</summary>
public sealed record ExplorationOptions
{
    /// <summary>Runs to try (each a fresh machine and a new schedule).</summary>
    public int Iterations { get; init; } = 1000;

    /// <summary>The strategy; the portfolio by default.</summary>
    public StrategyKind Strategy { get; init; } = StrategyKind.Portfolio;

    /// <summary>The exploration seed. Iteration i runs with seed <c>Seed + i</c>; the whole exploration replays from it.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>Scheduling points one run may take before it is stopped as a livelock or hang.</summary>
    public long MaxSteps { get; init; } = 10_000;

    /// <summary>
    /// Decisions per run made by an unfair strategy (PCT, probabilistic, delay-bounding) before the run continues
    /// with uniform random choices, so that no thread is starved forever (see <see cref="ExplorationStrategy.IsFair"/>).
    /// </summary>
    public int FairAfterDecisions { get; init; } = 1000;

    /// <summary>Simulated processors.</summary>
    public int Processors { get; init; } = 2;

    /// <summary>Driver Verifier checks in the machine.</summary>
    public bool Verifier { get; init; } = true;

    /// <summary>Let the strategy fire timers early so that waits race their timeouts (<see cref="MachineOptions.ExploreTimeouts"/>).</summary>
    public bool ExploreTimeouts { get; init; }

    /// <summary>PCT: priority change points per run (d - 1 for bugs of depth d).</summary>
    public int PriorityChanges { get; init; } = 2;

    /// <summary>Probabilistic strategy: switch with probability 1/2^level.</summary>
    public int ProbabilisticLevel { get; init; } = 3;

    /// <summary>Delay-bounding strategy: delays per run.</summary>
    public int DelayBound { get; init; } = 2;

    /// <summary>Stop at the first failing run (otherwise count every failing run and keep the first).</summary>
    public bool StopAtFirstFailure { get; init; } = true;

    /// <summary>Stop exploring after this much wall time, whatever the iteration count.</summary>
    public TimeSpan? TimeLimit { get; init; }

    /// <summary>What the trace of the failing run records (it is stored in the schedule).</summary>
    public TraceLevel TraceLevel { get; init; } = TraceLevel.Normal;

    /// <summary>The scenario's name, recorded in the schedule (a sample name lets <c>irplab replay</c> find it).</summary>
    public string? ScenarioName { get; init; }

    /// <summary>Where to save the failing schedule. Null: do not save unless <see cref="ScheduleDirectory"/> is set.</summary>
    public string? ScheduleFile { get; init; }

    /// <summary>A directory to save the failing schedule in, under a generated name.</summary>
    public string? ScheduleDirectory { get; init; }

    /// <summary>Shrink the failing schedule before saving it.</summary>
    public bool Shrink { get; init; }

    /// <summary>Wall-time budget of the shrinker.</summary>
    public TimeSpan ShrinkTimeLimit { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How to replay a saved schedule, for failure messages: {0} is the schedule path, {1} the scenario name.
    /// Null: a <c>dotnet test</c> command line for <see cref="Explorer.AssertNoBug"/> (see docs/exploration.md).
    /// </summary>
    public string? ReplayCommand { get; init; }

    /// <summary>Receives progress about ten times a second, and once at the end.</summary>
    public Action<ExplorationProgress>? Progress { get; init; }

    /// <summary>A strategy object to use instead of <see cref="Strategy"/> (it must be fresh: it learns across iterations).</summary>
    public ExplorationStrategy? CustomStrategy { get; init; }
}

/// <summary>A progress report during an exploration.</summary>
public readonly record struct ExplorationProgress(int IterationsDone, int Iterations, int Failures, TimeSpan Elapsed)
{
    public double RunsPerSecond => IterationsDone / Math.Max(Elapsed.TotalSeconds, 1e-9);
}
