using IrpLab.Samples;
using IrpLab.Testing;

namespace IrpLab.Testing.Tests;

/// <summary>
/// The explorer on the classic driver races, as samples of the seed drivers: each buggy variant is found within a
/// stated number of schedules by every strategy, the saved schedule replays to the same failure and trace, and the
/// fixed twin passes 10,000 schedules.
/// </summary>
public sealed class RaceSamplesTests
{
    /// <summary>Stated bound: every strategy finds every race within this many schedules, from each of five seeds.</summary>
    private const int FindWithin = 300;

    public static TheoryData<string, StrategyKind, FailureKind> BuggyVariants()
    {
        var data = new TheoryData<string, StrategyKind, FailureKind>();
        foreach (StrategyKind strategy in new[] { StrategyKind.Random, StrategyKind.Pct, StrategyKind.Portfolio })
        {
            data.Add("race-startio-cancel", strategy, FailureKind.BugCheck);
            data.Add("race-cancel-check-then-set", strategy, FailureKind.Deadlock);
            data.Add("race-cancel-vs-dpc", strategy, FailureKind.BugCheck);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(BuggyVariants))]
    public void Explore_BuggyVariant_FoundWithinBoundAndReplays(string name, StrategyKind strategy, FailureKind expected)
    {
        Sample sample = SampleCatalog.Find(name)!;
        var iterationsToFind = new List<int>();
        for (ulong seed = 1; seed <= 5; seed++)
        {
            ExplorationResult result = Explorer.Run(sample.Scenario, new ExplorationOptions
            {
                Iterations = FindWithin,
                Strategy = strategy,
                Seed = seed,
                ScenarioName = name,
            });
            Assert.True(result.FoundBug, $"{name} with {strategy}, seed {seed}: not found in {FindWithin} schedules.\n{result.Report()}");
            Assert.Equal(expected, result.FirstFailure!.Kind);
            if (expected == FailureKind.BugCheck)
            {
                Assert.Equal(BugCheckCatalogue.MULTIPLE_IRP_COMPLETE_REQUESTS, result.FirstFailure.BugCheck!.Code);
            }

            iterationsToFind.Add(result.FirstFailingIteration + 1);

            ReplayResult replay = Explorer.Replay(result.Schedule!, sample.Scenario);
            Assert.True(replay.Reproduced, replay.DescribeTraceDifference());
        }

        // Recorded for the documentation: the median number of schedules needed.
        iterationsToFind.Sort();
        Assert.InRange(iterationsToFind[2], 1, FindWithin);
    }

    [Theory]
    [InlineData("race-startio-cancel-fixed")]
    [InlineData("race-cancel-check-then-set-fixed")]
    [InlineData("race-cancel-vs-dpc-fixed")]
    public void Explore_FixedTwin_Passes10000Schedules(string name)
    {
        Sample sample = SampleCatalog.Find(name)!;
        ExplorationResult result = Explorer.Run(sample.Scenario, new ExplorationOptions
        {
            Iterations = 10_000,
            Strategy = StrategyKind.Portfolio,
            Seed = 1,
            ScenarioName = name,
        });

        Assert.False(result.FoundBug, result.Report());
        Assert.Equal(10_000, result.Iterations);
    }
}
