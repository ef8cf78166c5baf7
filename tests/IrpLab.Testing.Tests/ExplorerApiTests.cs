using IrpLab.Samples;
using static IrpLab.Wdm;

namespace IrpLab.Testing.Tests;

public sealed class ExplorerApiTests
{
    [Fact]
    public void AssertNoBug_Failing_MessageHasSeedFailureScheduleAndReplayCommand()
    {
        ExplorationFailedException ex = Assert.Throws<ExplorationFailedException>(() =>
            Explorer.AssertNoBug(m => Scenarios.LostUpdate(m, guarded: false),
                new ExplorationOptions { Strategy = StrategyKind.Random, Seed = 5, Iterations = 200 }));
        try
        {
            ExplorationResult r = ex.Result!;
            Assert.Equal(nameof(AssertNoBug_Failing_MessageHasSeedFailureScheduleAndReplayCommand), r.Scenario);
            Assert.Contains($"run seed {r.FirstFailingSeed}", ex.Message, StringComparison.Ordinal);
            Assert.Contains("exploration seed 5", ex.Message, StringComparison.Ordinal);
            Assert.Contains("Lost update: the counter is 1, expected 2.", ex.Message, StringComparison.Ordinal);
            Assert.Contains("saved to " + r.ScheduleFile, ex.Message, StringComparison.Ordinal);
            Assert.Contains(
                $"IRPLAB_REPLAY=\"{r.ScheduleFile}\" dotnet test --filter \"FullyQualifiedName~{nameof(AssertNoBug_Failing_MessageHasSeedFailureScheduleAndReplayCommand)}\"",
                ex.Message, StringComparison.Ordinal);
            Assert.True(File.Exists(r.ScheduleFile));
            Assert.IsType<InvalidOperationException>(ex.InnerException);
        }
        finally
        {
            File.Delete(ex.Result!.ScheduleFile!);
        }
    }

    [Fact]
    public void AssertNoBug_ReplayVariableNamesThisScenario_ReplaysTheScheduleInstead()
    {
        const string name = "replay-variable-scenario";
        ExplorationResult found = Explorer.Run(m => Scenarios.LostUpdate(m, guarded: false),
            new ExplorationOptions { Strategy = StrategyKind.Random, Seed = 1, Iterations = 100, ScenarioName = name, ScheduleDirectory = Path.Combine(Path.GetTempPath(), "irplab-tests") });
        string? before = Environment.GetEnvironmentVariable(Explorer.ReplayVariable);
        try
        {
            Environment.SetEnvironmentVariable(Explorer.ReplayVariable, found.ScheduleFile);
            int runs = 0;
            ExplorationFailedException ex = Assert.Throws<ExplorationFailedException>(() =>
                Explorer.AssertNoBug(m =>
                {
                    runs++;
                    Scenarios.LostUpdate(m, guarded: false);
                }, new ExplorationOptions { ScenarioName = name, Iterations = 1000 }));

            Assert.Equal(1, runs);
            Assert.NotNull(ex.Replay);
            Assert.True(ex.Replay!.Reproduced);
            Assert.StartsWith("Replaying " + found.ScheduleFile, ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable(Explorer.ReplayVariable, before);
            File.Delete(found.ScheduleFile!);
        }
    }

    [Fact]
    public void Run_Livelock_ReportedAsStepBound()
    {
        static void Spin(Machine m) => m.RunKernel("spinner", () =>
        {
            while (true)
            {
                KeDelayExecutionThread(KernelMode, FALSE, 0);
            }
        });

        ExplorationResult r = Explorer.Run(Spin, new ExplorationOptions { Iterations = 10, MaxSteps = 500 });

        Assert.True(r.FoundBug);
        Assert.Equal(0, r.FirstFailingIteration);
        Assert.Equal(FailureKind.StepBound, r.FirstFailure!.Kind);
        Assert.Equal(1, r.StepBoundHits);
        Assert.True(r.Reproduced);
    }

    [Fact]
    public void Run_ScenarioSwallowsTheBugCheck_StillAFailure()
    {
        static void Swallow(Machine m)
        {
            try
            {
                m.RunKernel("crash", () => KeLowerIrql(DISPATCH_LEVEL));   // lowering to a higher IRQL: 0xC4/0x31
            }
            catch (BugCheckException)
            {
            }
        }

        ExplorationResult r = Explorer.Run(Swallow, new ExplorationOptions { Iterations = 3 });

        Assert.Equal(FailureKind.BugCheck, r.FirstFailure!.Kind);
        Assert.Equal(0xC4u, r.FirstFailure.BugCheck!.Code);
        Assert.Equal(0x31u, r.FirstFailure.BugCheck.Parameter1);
    }

    [Fact]
    public void Run_StopAtFirstFailureOff_CountsEveryFailingRun()
    {
        ExplorationResult r = Explorer.Run(m => Scenarios.LostUpdate(m, guarded: false),
            new ExplorationOptions { Strategy = StrategyKind.Random, Iterations = 200, StopAtFirstFailure = false });

        Assert.Equal(200, r.Iterations);
        Assert.InRange(r.Failures, 20, 180);
        Assert.InRange(r.FirstFailingIteration, 0, 19);
        Assert.Contains("failing schedule(s)", r.Report(), StringComparison.Ordinal);
    }

    [Fact]
    public void Run_Progress_ReportedAtTheEnd()
    {
        var seen = new List<ExplorationProgress>();
        Explorer.Run(m => Scenarios.LostUpdate(m, guarded: true), new ExplorationOptions { Iterations = 50, Progress = seen.Add });

        Assert.Equal(50, seen[^1].IterationsDone);
        Assert.Equal(0, seen[^1].Failures);
        Assert.True(seen[^1].RunsPerSecond > 0);
    }

    [Fact]
    public void Run_SystemThreadSample_PortfolioFindsNothingAndCountsDecisions()
    {
        Sample sample = SampleCatalog.Find("system-thread")!;

        ExplorationResult r = Explorer.Run(sample.Scenario, new ExplorationOptions { Iterations = 200, ScenarioName = sample.Name });

        Assert.False(r.FoundBug, r.Report());
        Assert.Equal(200, r.Iterations);
        Assert.True(r.Steps >= 200 * 20);
        Assert.True(r.Decisions > 0 && r.Switches > 0);
        Assert.InRange(r.MinDecisionsPerRun, 1, r.MaxDecisionsPerRun);
    }

    [Fact]
    public void Run_SystemThreadSample_ExploreTimeoutsKeepsItCorrect()
    {
        // Racing its one-second timer against the unload is legal for this driver: it must still pass.
        Sample sample = SampleCatalog.Find("system-thread")!;

        ExplorationResult r = Explorer.Run(sample.Scenario, new ExplorationOptions { Iterations = 200, ExploreTimeouts = true });

        Assert.False(r.FoundBug, r.Report());
    }
}
