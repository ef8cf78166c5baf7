namespace IrpLab.Testing.Tests;

/// <summary>
/// The explorer on real races: each buggy scenario is found within a stated number of iterations (fixed seeds, so
/// the count is the same on every run), its saved schedule replays to the same failure and the same trace, and its
/// fixed twin survives a long exploration.
/// </summary>
public sealed class RaceExplorationTests
{
    private static readonly Action<Machine> s_lostUpdate = m => Scenarios.LostUpdate(m, guarded: false);
    private static readonly Action<Machine> s_checkThenWait = m => Scenarios.CheckThenWait(m, fixedVersion: false);
    private static readonly Action<Machine> s_timeoutRace = m => Scenarios.WaitRacesTimeout(m, fixedVersion: false);

    /// <summary>Explores, asserts the bug was found early enough and how, then replays the saved file exactly.</summary>
    private static ExplorationResult AssertFoundAndReplays(Action<Machine> scenario, ExplorationOptions options, int withinIterations, FailureKind kind)
    {
        string file = Path.Combine(Path.GetTempPath(), "irplab-tests", Guid.NewGuid().ToString("N") + ".schedule.json");
        try
        {
            ExplorationResult result = Explorer.Run(scenario, options with { ScheduleFile = file });

            Assert.True(result.FoundBug, result.Report());
            Assert.InRange(result.FirstFailingIteration, 0, withinIterations - 1);
            Assert.Equal(kind, result.FirstFailure!.Kind);
            Assert.True(result.Reproduced, result.Report());
            Assert.Equal(options.Seed + (ulong)result.FirstFailingIteration, result.FirstFailingSeed);
            Assert.NotEmpty(result.Schedule!.Decisions);
            Assert.NotEmpty(result.Schedule.Trace);

            Schedule loaded = Schedule.Load(file);
            ReplayResult replay = Explorer.AssertReplays(loaded, scenario);
            Assert.False(replay.Diverged);
            Assert.Equal(kind, replay.Failure!.Kind);
            Assert.Equal(result.FirstFailure.ExactSignature, replay.Failure.ExactSignature);
            Assert.Equal(result.Schedule.Trace, replay.Trace);
            Assert.Equal(loaded.Decisions.Count, replay.DecisionsReplayed);
            return result;
        }
        finally
        {
            File.Delete(file);
        }
    }

    // ---------------------------------------------------------------- (a) lost update

    [Theory]
    [InlineData(StrategyKind.Random)]
    [InlineData(StrategyKind.Pct)]
    [InlineData(StrategyKind.Probabilistic)]
    [InlineData(StrategyKind.DelayBounding)]
    [InlineData(StrategyKind.Portfolio)]
    public void LostUpdate_Unguarded_FoundWithin40IterationsAndReplays(StrategyKind strategy)
    {
        ExplorationResult r = AssertFoundAndReplays(s_lostUpdate,
            new ExplorationOptions { Strategy = strategy, Seed = 1, Iterations = 500, ScenarioName = "lost-update" },
            withinIterations: 40, FailureKind.Exception);

        Assert.Contains("Lost update: the counter is 1, expected 2.", r.FirstFailure!.Summary, StringComparison.Ordinal);
        Assert.Contains(r.Schedule!.Trace, line => line.EndsWith("counter = 1", StringComparison.Ordinal));
    }

    [Fact]
    public void LostUpdate_GuardedByKMutex_Passes2000Iterations()
    {
        ExplorationResult r = Explorer.AssertNoBug(m => Scenarios.LostUpdate(m, guarded: true),
            new ExplorationOptions { Iterations = 2000, Seed = 1 });

        Assert.Equal(2000, r.Iterations);
        Assert.Equal(0, r.Failures);
        Assert.True(r.Decisions > 2000, r.Report());
    }

    // ---------------------------------------------------------------- (b) check, then wait

    [Theory]
    [InlineData(StrategyKind.Random)]
    [InlineData(StrategyKind.Pct)]
    [InlineData(StrategyKind.Portfolio)]
    public void CheckThenWait_PulseBetweenCheckAndWait_FoundAsDeadlockWithin60IterationsAndReplays(StrategyKind strategy)
    {
        ExplorationResult r = AssertFoundAndReplays(s_checkThenWait,
            new ExplorationOptions { Strategy = strategy, Seed = 1, Iterations = 500, ScenarioName = "check-then-wait" },
            withinIterations: 60, FailureKind.Deadlock);

        // The report names the consumer stuck on the event and the main thread waiting for it.
        Assert.Contains("\"ConsumerThread\" (System): waits on Event", r.FirstFailure!.Description, StringComparison.Ordinal);
        Assert.Contains("\"CheckThenWaitMain\" (System): waits on Thread", r.FirstFailure.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void CheckThenWait_SetEventInsteadOfPulse_Passes1000Iterations()
    {
        ExplorationResult r = Explorer.AssertNoBug(m => Scenarios.CheckThenWait(m, fixedVersion: true),
            new ExplorationOptions { Iterations = 1000, Seed = 1 });

        Assert.Equal(1000, r.Iterations);
    }

    // ---------------------------------------------------------------- (c) a wait races its timeout

    [Theory]
    [InlineData(StrategyKind.Random)]
    [InlineData(StrategyKind.Pct)]
    [InlineData(StrategyKind.Portfolio)]
    public void WaitRacesTimeout_ExploreTimeouts_FoundAsBugCheck0x7EWithin40IterationsAndReplays(StrategyKind strategy)
    {
        ExplorationResult r = AssertFoundAndReplays(s_timeoutRace,
            new ExplorationOptions { Strategy = strategy, Seed = 1, Iterations = 500, ExploreTimeouts = true, ScenarioName = "timeout-race" },
            withinIterations: 40, FailureKind.BugCheck);

        Assert.Equal(0x7Eu, r.FirstFailure!.BugCheck!.Code);
        Assert.Contains("NullReferenceException", r.FirstFailure.Summary, StringComparison.Ordinal);
        Assert.Contains(r.Schedule!.Trace, line => line.Contains("requester: timed out", StringComparison.Ordinal));
        Assert.True(r.Schedule.ExploreTimeouts);
    }

    [Fact]
    public void WaitRacesTimeout_WithoutExploreTimeouts_NeverTimesOut()
    {
        // Time moves only when nothing can run, so the worker always completes the request first.
        ExplorationResult r = Explorer.Run(s_timeoutRace, new ExplorationOptions { Iterations = 500, Seed = 1 });

        Assert.False(r.FoundBug, r.Report());
        Assert.Equal(500, r.Iterations);
    }

    [Fact]
    public void WaitRacesTimeout_CheckedUnderSpinLock_Passes1000IterationsWithExploreTimeouts()
    {
        ExplorationResult r = Explorer.AssertNoBug(m => Scenarios.WaitRacesTimeout(m, fixedVersion: true),
            new ExplorationOptions { Iterations = 1000, Seed = 1, ExploreTimeouts = true });

        Assert.Equal(1000, r.Iterations);
    }

    // ---------------------------------------------------------------- determinism of the exploration itself

    [Fact]
    public void Run_SameSeed_SameIterationSameSchedule()
    {
        var options = new ExplorationOptions { Strategy = StrategyKind.Portfolio, Seed = 99, Iterations = 500 };
        ExplorationResult a = Explorer.Run(s_checkThenWait, options);
        ExplorationResult b = Explorer.Run(s_checkThenWait, options);

        Assert.True(a.FoundBug);
        Assert.Equal(a.FirstFailingIteration, b.FirstFailingIteration);
        Assert.Equal(a.Schedule!.Strategy, b.Schedule!.Strategy);
        Assert.Equal(a.Schedule.Decisions, b.Schedule.Decisions);
        Assert.Equal(a.Schedule.Trace, b.Schedule.Trace);
    }

    [Fact]
    public void Run_RandomStrategy_FailingSeedReproducesAsAPlainSeededMachine()
    {
        // The random strategy of iteration i is the kernel's RandomStrategy seeded with Seed + i: the same run as
        // "irplab run --deterministic --seed S" would make.
        ExplorationResult r = Explorer.Run(s_lostUpdate, new ExplorationOptions { Strategy = StrategyKind.Random, Seed = 1, Iterations = 100 });
        Assert.True(r.FoundBug);

        using var machine = new Machine(new MachineOptions { Deterministic = true, Seed = r.FirstFailingSeed!.Value });
        InvalidOperationException ex = Assert.Throws<InvalidOperationException>(() => s_lostUpdate(machine));
        Assert.Equal("Lost update: the counter is 1, expected 2.", ex.Message);
    }
}
