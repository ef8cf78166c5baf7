using IrpLab.Scheduling;
using static IrpLab.Wdm;

namespace IrpLab.Testing.Tests;

/// <summary>How timers become decisions: equal-time order always; racing a running thread with ExploreTimeouts.</summary>
public sealed class TimerDecisionTests
{
    /// <summary>Answers like a seeded random strategy and remembers every question.</summary>
    private sealed class Spy(ulong seed) : ISchedulingStrategy
    {
        private readonly RandomStrategy _random = new(seed);

        public List<int[]> ThreadQuestions { get; } = [];

        public List<(int Options, SchedulingPointKind Kind)> IntegerQuestions { get; } = [];

        public int NextThread(ReadOnlySpan<int> candidates, int current, SchedulingPointKind kind)
        {
            ThreadQuestions.Add(candidates.ToArray());
            return _random.NextThread(candidates, current, kind);
        }

        public int NextInteger(int maxExclusive, SchedulingPointKind kind)
        {
            IntegerQuestions.Add((maxExclusive, kind));
            return _random.NextInteger(maxExclusive, kind);
        }
    }

    /// <summary>Two threads sleep the same 10 ms: their timers fall due at the same instant.</summary>
    private static void TwoEqualSleeps(Machine m) => m.RunKernel("main", () =>
    {
        KThread a = Scenarios.StartThread<int>(_ => KeDelayExecutionThread(KernelMode, FALSE, -100_000), 0);
        KThread b = Scenarios.StartThread<int>(_ => KeDelayExecutionThread(KernelMode, FALSE, -100_000), 0);
        KeWaitForSingleObject(a, Executive, KernelMode, FALSE, null);
        KeWaitForSingleObject(b, Executive, KernelMode, FALSE, null);
        ObDereferenceObject(a);
        ObDereferenceObject(b);
    });

    [Fact]
    public void FireNextTimers_TwoTimersDueTogether_StrategyChoosesTheirOrder()
    {
        var spy = new Spy(1);
        using var machine = new Machine(new MachineOptions { Deterministic = true, Strategy = spy });

        TwoEqualSleeps(machine);

        Assert.Contains((2, SchedulingPointKind.TimerOrder), spy.IntegerQuestions);
        Assert.Equal(100_000, machine.Clock.InterruptTime);
    }

    [Fact]
    public void ExploreTimeoutsOff_AdvanceTimeNeverOffered()
    {
        var spy = new Spy(1);
        using var machine = new Machine(new MachineOptions { Deterministic = true, Strategy = spy });

        Scenarios.WaitRacesTimeout(machine, fixedVersion: false);

        Assert.DoesNotContain(spy.ThreadQuestions, q => q.Contains(SchedulingCandidate.AdvanceTime));
        Assert.Equal(0, machine.Clock.InterruptTime);
    }

    [Fact]
    public void ExploreTimeoutsOn_AdvanceTimeOfferedLastWhileATimerIsArmed()
    {
        var questions = new List<int[]>();
        for (ulong seed = 1; seed <= 10; seed++)
        {
            var spy = new Spy(seed);
            using var machine = new Machine(new MachineOptions { Deterministic = true, Strategy = spy, ExploreTimeouts = true });
            try
            {
                Scenarios.WaitRacesTimeout(machine, fixedVersion: false);
            }
            catch (BugCheckException)
            {
                // Some seeds lose the race; this test is about the questions asked.
            }

            questions.AddRange(spy.ThreadQuestions);
        }

        int[][] withTimer = questions.Where(q => q.Contains(SchedulingCandidate.AdvanceTime)).ToArray();
        Assert.NotEmpty(withTimer);
        Assert.All(withTimer, q =>
        {
            Assert.Equal(SchedulingCandidate.AdvanceTime, q[^1]);
            Assert.Equal(q.Order(), q);   // still ascending
            Assert.True(q.Length >= 2);
        });
    }

    [Fact]
    public void ExploreTimeoutsOn_ChoosingAdvanceTime_FiresTheTimeoutBeforeTheWorkerRuns()
    {
        // Always choose the last candidate: time, whenever it is offered.
        var alwaysTime = new Scripted(q => q[^1] == SchedulingCandidate.AdvanceTime ? q.Length - 1 : 0);
        using var machine = new Machine(new MachineOptions { Deterministic = true, Strategy = alwaysTime, ExploreTimeouts = true, CaptureTrace = true });

        BugCheckException ex = Assert.Throws<BugCheckException>(() => Scenarios.WaitRacesTimeout(machine, fixedVersion: false));

        Assert.Equal(0x7Eu, ex.BugCheck.Code);
        Assert.Equal(10_000_000, machine.Clock.InterruptTime);
        Assert.Contains(machine.Trace.Events, e => e.Text.Contains("requester: timed out", StringComparison.Ordinal));
    }

    private sealed class Scripted(Func<int[], int> choose) : ISchedulingStrategy
    {
        public int NextThread(ReadOnlySpan<int> candidates, int current, SchedulingPointKind kind) => choose(candidates.ToArray());

        public int NextInteger(int maxExclusive, SchedulingPointKind kind) => 0;
    }
}
