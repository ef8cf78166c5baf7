using IrpLab.Scheduling;

namespace IrpLab.Testing.Tests;

public sealed class StrategyTests
{
    private static readonly int[] s_threeThreads = [4, 8, 12];

    [Fact]
    public void Pct_FirstIteration_NoChangePointSoOneThreadRunsWhileEnabled()
    {
        var pct = new PctStrategy(priorityChanges: 2);
        pct.BeginIteration(0, seed: 7);

        int first = s_threeThreads[pct.NextThread(s_threeThreads, 4, SchedulingPointKind.Yield)];
        for (int i = 0; i < 50; i++)
        {
            Assert.Equal(first, s_threeThreads[pct.NextThread(s_threeThreads, first, SchedulingPointKind.Yield)]);
        }

        Assert.Equal("pct(changes=2,k=0)", pct.Description);
    }

    [Fact]
    public void Pct_LearnsLengthAndChangesPriorityExactlyAtItsChangePoints()
    {
        var pct = new PctStrategy(priorityChanges: 2);
        pct.BeginIteration(0, 1);
        pct.EndIteration(40);
        Assert.Equal(40, pct.EstimatedLength);

        for (ulong seed = 1; seed <= 50; seed++)
        {
            pct.BeginIteration(1, seed);
            int switches = 0;
            int last = s_threeThreads[pct.NextThread(s_threeThreads, 4, SchedulingPointKind.Yield)];
            for (int i = 1; i < 40; i++)
            {
                int next = s_threeThreads[pct.NextThread(s_threeThreads, last, SchedulingPointKind.Yield)];
                switches += next != last ? 1 : 0;
                last = next;
            }

            // With every thread always enabled, the running thread changes only at one of the two change points
            // (a change point at decision 0 changes nothing visible).
            Assert.InRange(switches, 0, 2);
        }
    }

    [Fact]
    public void Pct_SameSeed_SameDecisions()
    {
        int[] Run(ulong seed)
        {
            var pct = new PctStrategy(3);
            pct.BeginIteration(0, seed);
            pct.EndIteration(30);
            pct.BeginIteration(1, seed);
            return Enumerable.Range(0, 30).Select(i => pct.NextThread(s_threeThreads, s_threeThreads[i % 3], SchedulingPointKind.Wait)).ToArray();
        }

        Assert.Equal(Run(3), Run(3));
        Assert.NotEqual(Run(3), Run(4));
    }

    [Fact]
    public void Probabilistic_Level10_AlmostNeverPreempts()
    {
        var p = new ProbabilisticStrategy(level: 10);
        p.BeginIteration(0, 1);
        int switches = Enumerable.Range(0, 1000).Count(_ => p.NextThread(s_threeThreads, 8, SchedulingPointKind.Yield) != 1);

        Assert.InRange(switches, 0, 10);
    }

    [Fact]
    public void Probabilistic_CurrentNotEnabled_ChoosesAmongAll()
    {
        var p = new ProbabilisticStrategy(level: 3);
        p.BeginIteration(0, 1);
        var seen = new HashSet<int>(Enumerable.Range(0, 200).Select(_ => p.NextThread(s_threeThreads, 99, SchedulingPointKind.Block)));

        Assert.Equal(3, seen.Count);
    }

    [Fact]
    public void DelayBounding_NoDelays_IsRoundRobin()
    {
        var d = new DelayBoundingStrategy(bound: 0);
        d.BeginIteration(0, 1);

        Assert.Equal(1, d.NextThread(s_threeThreads, 8, SchedulingPointKind.Yield));    // the current thread continues
        Assert.Equal(2, d.NextThread(s_threeThreads, 99, SchedulingPointKind.Block));   // after 8 comes 12
        Assert.Equal(0, d.NextThread(s_threeThreads, 99, SchedulingPointKind.Block));   // after 12, wrap to 4
    }

    [Fact]
    public void Portfolio_RotatesRoundRobinAcrossIterations()
    {
        var portfolio = (PortfolioStrategy)ExplorationStrategy.Create(StrategyKind.Portfolio, new ExplorationOptions());
        var names = new List<string>();
        for (int i = 0; i < 8; i++)
        {
            portfolio.BeginIteration(i, (ulong)i);
            names.Add(portfolio.Current.Name);
        }

        Assert.Equal(["random", "pct", "probabilistic", "delay-bounding", "random", "pct", "probabilistic", "delay-bounding"], names);
        Assert.StartsWith("portfolio:delay-bounding(", portfolio.Description, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("random", StrategyKind.Random)]
    [InlineData("PCT", StrategyKind.Pct)]
    [InlineData("probabilistic", StrategyKind.Probabilistic)]
    [InlineData("delay-bounding", StrategyKind.DelayBounding)]
    [InlineData("portfolio", StrategyKind.Portfolio)]
    public void Parse_CommandLineNames_Recognised(string name, StrategyKind kind)
        => Assert.Equal(kind, ExplorationStrategy.Parse(name));

    [Fact]
    public void Parse_UnknownName_Throws() => Assert.Throws<ArgumentException>(() => ExplorationStrategy.Parse("dfs"));
}
