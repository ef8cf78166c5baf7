using IrpLab.Scheduling;

namespace IrpLab.Testing.Tests;

public sealed class ScheduleTests
{
    private static readonly Action<Machine> s_lostUpdate = m => Scenarios.LostUpdate(m, guarded: false);

    private static Schedule FindLostUpdate(bool verbose = false)
    {
        ExplorationResult r = Explorer.Run(s_lostUpdate, new ExplorationOptions
        {
            Strategy = StrategyKind.Random,
            Seed = 1,
            Iterations = 100,
            ScenarioName = "lost-update",
            TraceLevel = verbose ? TraceLevel.Verbose : TraceLevel.Normal,
        });
        Assert.True(r.FoundBug);
        return r.Schedule!;
    }

    [Fact]
    public void Schedule_SaveThenLoad_RoundTripsEveryField()
    {
        Schedule original = FindLostUpdate(verbose: true);
        string path = Path.Combine(Path.GetTempPath(), "irplab-tests", Guid.NewGuid().ToString("N") + ".json");
        try
        {
            original.Save(path);
            Schedule loaded = Schedule.Load(path);

            Assert.Equal(Schedule.CurrentFormatVersion, loaded.FormatVersion);
            Assert.Equal(original.Scenario, loaded.Scenario);
            Assert.Equal(original.Strategy, loaded.Strategy);
            Assert.Equal(original.ExplorationSeed, loaded.ExplorationSeed);
            Assert.Equal(original.Iteration, loaded.Iteration);
            Assert.Equal(original.Seed, loaded.Seed);
            Assert.Equal(original.Processors, loaded.Processors);
            Assert.Equal(original.Verifier, loaded.Verifier);
            Assert.Equal(original.ExploreTimeouts, loaded.ExploreTimeouts);
            Assert.Equal(original.MaxSteps, loaded.MaxSteps);
            Assert.Equal(TraceLevel.Verbose, loaded.TraceLevel);
            Assert.Equal(original.Decisions, loaded.Decisions);
            Assert.Equal(original.Deviations, loaded.Deviations);
            Assert.Equal(original.Failure!.Kind, loaded.Failure!.Kind);
            Assert.Equal(original.Failure.Summary, loaded.Failure.Summary);
            Assert.Equal(original.Failure.ExactSignature, loaded.Failure.ExactSignature);
            Assert.Equal(original.Failure.Description, loaded.Failure.Description);
            Assert.Equal(original.Trace, loaded.Trace);
            Assert.Contains(loaded.Trace, l => l.Contains("ThreadCreated", StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Schedule_ToJson_DecisionsAreCompactTriples()
    {
        Schedule s = new()
        {
            Scenario = "x",
            Decisions = [new ScheduleDecision(true, 1, 2), new ScheduleDecision(false, 0, 3)],
        };

        string json = s.ToJson();

        Assert.Contains("\"format\": \"irplab-schedule\"", json, StringComparison.Ordinal);
        Assert.Contains("[0,1,2],[1,0,3]", json, StringComparison.Ordinal);
        Assert.Equal(s.Decisions, Schedule.FromJson(json).Decisions);
    }

    [Fact]
    public void Schedule_FromJson_NewerVersionOrOtherFormat_Rejected()
    {
        string json = new Schedule { Scenario = "x" }.ToJson();

        Assert.Throws<FormatException>(() => Schedule.FromJson(json.Replace("\"version\": 1", "\"version\": 2", StringComparison.Ordinal)));
        Assert.Throws<FormatException>(() => Schedule.FromJson(json.Replace("irplab-schedule", "something-else", StringComparison.Ordinal)));
    }

    [Fact]
    public void Replay_DecisionChanged_ReportsDivergenceOrDifferentRun()
    {
        Schedule s = FindLostUpdate();
        ScheduleDecision[] altered = [.. s.Decisions];
        altered[0] = altered[0] with { Options = altered[0].Options + 1 };

        ReplayResult r = Explorer.Replay(s with { Decisions = altered }, s_lostUpdate);

        Assert.True(r.Diverged);
        Assert.False(r.Reproduced);
        Assert.Throws<ExplorationFailedException>(() => Explorer.AssertReplays(s with { Decisions = altered }, s_lostUpdate));
    }

    [Fact]
    public void Replay_ScheduleTooShort_ReportsDivergence()
    {
        Schedule s = FindLostUpdate();

        ReplayResult r = Explorer.Replay(s with { Decisions = s.Decisions.Take(1).ToArray() }, s_lostUpdate);

        Assert.True(r.Diverged);
        Assert.True(r.DecisionsReplayed > 1);
    }

    [Fact]
    public void Replay_ScenarioThatIsNotDeterministic_NotReproduced()
    {
        // State kept outside the machine between runs breaks replay; the explorer says so instead of lying.
        int runs = 0;
        void Flaky(Machine m)
        {
            m.RunKernel("flaky", () => { });
            if (++runs == 3)
            {
                throw new InvalidOperationException("third run fails");
            }
        }

        ExplorationResult r = Explorer.Run(Flaky, new ExplorationOptions { Iterations = 10 });

        Assert.True(r.FoundBug);
        Assert.Equal(2, r.FirstFailingIteration);
        Assert.False(r.Reproduced);
        Assert.Contains("did not reproduce", r.Report(), StringComparison.Ordinal);
    }

    [Fact]
    public void Shrink_LostUpdate_ShrinksToOnePreemptionAndReplaysExactly()
    {
        Schedule found = FindLostUpdate();

        ShrinkResult shrunk = Explorer.Shrink(found, s_lostUpdate, TimeSpan.FromSeconds(10));

        Assert.True(found.Deviations > 1, "the random schedule should have more than the one necessary preemption");
        Assert.Equal(1, shrunk.ShrunkDeviations);
        Assert.True(shrunk.Attempts > 1);
        Assert.Equal(found.Failure!.Signature, shrunk.Shrunk.Failure!.Signature);
        Explorer.AssertReplays(shrunk.Shrunk, s_lostUpdate);
    }

    [Fact]
    public void Run_ShrinkOption_SavesTheShrunkSchedule()
    {
        string path = Path.Combine(Path.GetTempPath(), "irplab-tests", Guid.NewGuid().ToString("N") + ".json");
        try
        {
            ExplorationResult r = Explorer.Run(m => Scenarios.CheckThenWait(m, fixedVersion: false),
                new ExplorationOptions { Strategy = StrategyKind.Random, Seed = 1, Iterations = 200, Shrink = true, ScheduleFile = path });

            Assert.NotNull(r.Shrink);
            Assert.True(r.Shrink!.ShrunkDeviations <= r.Shrink.OriginalDeviations);
            Assert.Equal(1, r.Schedule!.Deviations);
            Assert.Equal(FailureKind.Deadlock, Schedule.Load(path).Failure!.Kind);
            Assert.Equal(r.Schedule.Decisions, Schedule.Load(path).Decisions);
            Explorer.AssertReplays(Schedule.Load(path), m => Scenarios.CheckThenWait(m, fixedVersion: false));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
