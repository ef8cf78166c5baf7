using IrpLab.Scheduling;
using static IrpLab.Wdm;

namespace IrpLab.Testing.Tests;

/// <summary>Machines created by the thousand: stopping and disposing them must leave nothing behind.</summary>
public sealed class MachineLifecycleTests
{
    /// <summary>Never preempts: the running thread continues while it can.</summary>
    private sealed class StayStrategy : ISchedulingStrategy
    {
        public int NextThread(ReadOnlySpan<int> candidates, int current, SchedulingPointKind kind)
            => Math.Max(0, candidates.IndexOf(current));

        public int NextInteger(int maxExclusive, SchedulingPointKind kind) => 0;
    }

    [Fact]
    public void BugCheck_ThreadsStartedButNeverRun_UnwoundAndTheNextMachineRuns()
    {
        int ran = 0;
        for (int i = 0; i < 50; i++)
        {
            using var machine = new Machine(new MachineOptions { Deterministic = true, Strategy = new StayStrategy() });

            BugCheckException ex = Assert.Throws<BugCheckException>(() => machine.RunKernel("main", () =>
            {
                // Three threads become ready but never run: the main thread keeps the processor and then crashes.
                for (int t = 0; t < 3; t++)
                {
                    Scenarios.StartThread<int>(_ => Interlocked.Increment(ref ran), 0);
                }

                KeLowerIrql(DISPATCH_LEVEL);
            }));

            Assert.Equal(0xC4u, ex.BugCheck.Code);
        }

        Assert.Equal(0, ran);

        // Carriers went back to the pool in a usable state.
        ExplorationResult r = Explorer.Run(m => Scenarios.LostUpdate(m, guarded: true), new ExplorationOptions { Iterations = 200 });
        Assert.False(r.FoundBug, r.Report());
    }

    [Fact]
    public void Dispose_ThreadsStillWaiting_UnwoundWithoutHanging()
    {
        for (int i = 0; i < 50; i++)
        {
            var machine = new Machine(new MachineOptions { Deterministic = true, Seed = (ulong)i });
            var never = new KEvent();
            machine.RunKernel("main", () =>
            {
                KeInitializeEvent(never, NotificationEvent, FALSE);
                KThread waiter = Scenarios.StartThread<KEvent>(e => KeWaitForSingleObject(e, Executive, KernelMode, FALSE, null), never);
                KThread sleeper = Scenarios.StartThread<int>(_ => KeDelayExecutionThread(KernelMode, FALSE, -10_000_000), 0);
                ObDereferenceObject(waiter);
                ObDereferenceObject(sleeper);
            });

            machine.Dispose();
        }
    }

    [Fact]
    public void RealMode_ThreadsOnPooledCarriers_RunConcurrentlyAndFinish()
    {
        // Real mode shares the carrier pool; threads must still run side by side.
        for (int i = 0; i < 20; i++)
        {
            using var machine = new Machine(new MachineOptions { Deterministic = false });
            int done = 0;
            machine.RunKernel("main", () =>
            {
                var go = new KEvent();
                KeInitializeEvent(go, NotificationEvent, FALSE);
                KThread a = Scenarios.StartThread<KEvent>(e =>
                {
                    KeWaitForSingleObject(e, Executive, KernelMode, FALSE, null);
                    Interlocked.Increment(ref done);
                }, go);
                KThread b = Scenarios.StartThread<KEvent>(e =>
                {
                    KeSetEvent(e, 0, FALSE);
                    Interlocked.Increment(ref done);
                }, go);
                KeWaitForSingleObject(a, Executive, KernelMode, FALSE, null);
                KeWaitForSingleObject(b, Executive, KernelMode, FALSE, null);
                ObDereferenceObject(a);
                ObDereferenceObject(b);
            });

            Assert.Equal(2, done);
        }
    }
}
