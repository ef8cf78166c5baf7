using static IrpLab.Kernel32;
using static IrpLab.Tests.Cancel.LabHost;

namespace IrpLab.Tests.Cancel;

/// <summary>
/// Cancellation races explored in deterministic mode under many seeds: cancel racing completion, a cancel that comes
/// before the cancel routine is set, closing a handle with requests pending, and a thread exiting with requests pending.
/// The textbook driver loses no request and completes none twice under every seed; its buggy twins are caught
/// (0x44, or a request that never completes) under some seed, and replaying that seed reproduces the failure.
/// </summary>
public sealed class CancelRaceTests
{
    private const int Seeds = 300;
    private const int Reads = 3;

    private static Machine NewRaceMachine(RaceDriver driver, ulong seed, bool verifier = true)
    {
        var machine = new Machine(new MachineOptions { Deterministic = true, Seed = seed, Verifier = verifier, MaxSteps = 200_000 });
        Assert.Equal(NtStatus.STATUS_SUCCESS, machine.LoadDriver("Race", driver.DriverEntry));
        return machine;
    }

    private static Handle OpenRace()
    {
        Handle h = CreateFile(RaceDriver.Win32Name, GENERIC_READ, 0, null, OPEN_EXISTING, FILE_FLAG_OVERLAPPED, NULL);
        Assert.NotEqual(INVALID_HANDLE_VALUE, h);
        return h;
    }

    /// <summary>
    /// Cancel racing completion: three reads on a port-associated handle, a worker thread completing them, another
    /// app thread cancelling them one by one and then all at once. A bystander thread's reads on a second handle are
    /// never cancelled. Every read's packet is dequeued exactly once, with a status that matches its OVERLAPPED.
    /// </summary>
    private static void CancelVersusCompletion(ulong seed, RaceBug bug, bool verifier)
    {
        var driver = new RaceDriver { Bug = bug };
        using Machine machine = NewRaceMachine(driver, seed, verifier);
        machine.Run("app", () =>
        {
            Handle h = OpenRace();
            Handle other = OpenRace();
            Handle port = CreateIoCompletionPort(h, NULL, 1, 0);
            var ovs = new OVERLAPPED[Reads];
            for (int i = 0; i < Reads; i++)
            {
                ovs[i] = new OVERLAPPED();
            }

            Handle canceller = StartThread(() =>
            {
                for (int i = Reads - 1; i >= 0; i--)
                {
                    CancelIoEx(h, ovs[i]);
                }

                CancelIoEx(h, null);
            });
            var bystanderReads = new OVERLAPPED[2];
            Handle bystander = StartThread(() =>
            {
                for (int i = 0; i < bystanderReads.Length; i++)
                {
                    bystanderReads[i] = new OVERLAPPED { hEvent = CreateEvent(null, TRUE, FALSE, null) };
                    Assert.False(ReadFile(other, new byte[4], 4, bystanderReads[i]));
                    Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(bystanderReads[i].hEvent, INFINITE));
                }
            });

            for (int i = 0; i < Reads; i++)
            {
                Assert.False(ReadFile(h, new byte[8], 8, ovs[i]));
                Assert.Equal(ERROR_IO_PENDING, GetLastError());
            }

            var seen = new Dictionary<OVERLAPPED, int>();
            for (int i = 0; i < Reads; i++)
            {
                bool ok = GetQueuedCompletionStatus(port, out uint bytes, out nuint key, out OVERLAPPED? ov, INFINITE);
                Assert.NotNull(ov);
                Assert.Equal((nuint)1, key);
                seen[ov!] = seen.GetValueOrDefault(ov!) + 1;
                if (ok)
                {
                    Assert.Equal(NtStatus.STATUS_SUCCESS, ov!.Status);
                    Assert.Equal(8u, bytes);
                }
                else
                {
                    Assert.Equal(ERROR_OPERATION_ABORTED, GetLastError());
                    Assert.Equal(NtStatus.STATUS_CANCELLED, ov!.Status);
                    Assert.Equal(0u, bytes);
                }
            }

            Assert.False(GetQueuedCompletionStatus(port, out _, out _, out OVERLAPPED? extra, 0));
            Assert.Null(extra);
            Assert.All(ovs, ov => Assert.Equal(1, seen.GetValueOrDefault(ov)));
            Assert.Equal(WAIT_OBJECT_0, WaitForMultipleObjects(2, [canceller, bystander], TRUE, INFINITE));
            Assert.All(bystanderReads, ov => Assert.Equal(NtStatus.STATUS_SUCCESS, ov.Status));
            Assert.Equal(Reads + bystanderReads.Length, driver.Completed);
            CloseHandle(h);
            CloseHandle(other);
            CloseHandle(port);
        });
    }

    [Fact]
    public void CancelIoEx_RacingWorkerCompletion_EveryRequestObservedOnceUnderEverySeed()
    {
        int cancelled = 0, completed = 0;
        for (ulong seed = 1; seed <= Seeds; seed++)
        {
            CancelVersusCompletion(seed, RaceBug.None, verifier: true);
        }

        // Both outcomes happen: the race is really explored (checked on a few seeds with counters).
        for (ulong seed = 1; seed <= 20; seed++)
        {
            var driver = new RaceDriver();
            using Machine machine = NewRaceMachine(driver, seed);
            machine.Run("app", () =>
            {
                Handle h = OpenRace();
                var ov = new OVERLAPPED { hEvent = CreateEvent(null, TRUE, FALSE, null) };
                Handle canceller = StartThread(() => CancelIoEx(h, null));
                ReadFile(h, new byte[8], 8, ov);
                Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(ov.hEvent, INFINITE));
                WaitForSingleObject(canceller, INFINITE);
            });
            cancelled += driver.CompletedByCancel;
            completed += driver.CompletedByWorker;
        }

        Assert.True(cancelled > 0 && completed > 0, $"cancelled {cancelled}, completed {completed}");
    }

    /// <summary>
    /// With the verifier off, completed IRPs are recycled. Three CancelIoEx calls race three reads that the worker
    /// completes at once, while a bystander thread keeps issuing reads on another handle: a cancel aimed at a read that
    /// completed meanwhile must never land on its recycled packet, now the bystander's. (Seeds 663 ... 4938 did, before
    /// the cancel paths held the IRPs they were about to cancel.)
    /// </summary>
    private static void CancelWhileIrpsRecycle(ulong seed)
    {
        var driver = new RaceDriver();
        using var machine = new Machine(new MachineOptions { Deterministic = true, Seed = seed, Verifier = false });
        Assert.Equal(NtStatus.STATUS_SUCCESS, machine.LoadDriver("Race", driver.DriverEntry));
        machine.Run("app", () =>
        {
            Handle h = OpenRace();
            Handle other = OpenRace();
            var ovs = new OVERLAPPED[Reads];
            for (int i = 0; i < Reads; i++)
            {
                ovs[i] = new OVERLAPPED { hEvent = CreateEvent(null, TRUE, FALSE, null) };
            }

            var bystanderReads = new OVERLAPPED[6];
            Handle canceller = StartThread(() =>
            {
                for (int k = 0; k < 3; k++)
                {
                    CancelIoEx(h, null);
                }
            });
            Handle bystander = StartThread(() =>
            {
                for (int i = 0; i < bystanderReads.Length; i++)
                {
                    bystanderReads[i] = new OVERLAPPED { hEvent = CreateEvent(null, TRUE, FALSE, null) };
                    ReadFile(other, new byte[4], 4, bystanderReads[i]);
                    WaitForSingleObject(bystanderReads[i].hEvent, INFINITE);
                }
            });
            for (int i = 0; i < Reads; i++)
            {
                ReadFile(h, new byte[8], 8, ovs[i]);
            }

            for (int i = 0; i < Reads; i++)
            {
                WaitForSingleObject(ovs[i].hEvent, INFINITE);
            }

            WaitForSingleObject(canceller, INFINITE);
            WaitForSingleObject(bystander, INFINITE);
            Assert.All(bystanderReads, ov => Assert.Equal(NtStatus.STATUS_SUCCESS, ov.Status));
            Assert.All(ovs, ov => Assert.True(ov.Status is NtStatus.STATUS_SUCCESS or NtStatus.STATUS_CANCELLED));
        });
    }

    [Fact]
    public void CancelIoEx_RacingCompletionIrpsRecycled_BystanderNeverCancelledUnderEverySeed()
    {
        foreach (ulong seed in new ulong[] { 663, 791, 822, 1764, 2480, 3657, 4938 })
        {
            CancelWhileIrpsRecycle(seed);
        }

        for (ulong seed = 1; seed <= Seeds; seed++)
        {
            CancelVersusCompletion(seed, RaceBug.None, verifier: false);
        }
    }

    /// <summary>The buggy twin completes without checking IoSetCancelRoutine's return: 0x44 under some seed, reproduced by replaying it.</summary>
    [Fact]
    public void CancelIoEx_WorkerIgnoresIoSetCancelRoutineReturn_BugCheck44FoundAndReplayed()
    {
        ulong? failing = null;
        BugCheckInfo? first = null;
        for (ulong seed = 1; seed <= 2000 && failing is null; seed++)
        {
            try
            {
                CancelVersusCompletion(seed, RaceBug.IgnoreCancelRoutineReturn, verifier: true);
            }
            catch (BugCheckException e)
            {
                failing = seed;
                first = e.BugCheck;
            }
        }

        Assert.NotNull(failing);
        Assert.Equal(BugCheckCatalogue.MULTIPLE_IRP_COMPLETE_REQUESTS, first!.Code);

        BugCheckException replay = Assert.Throws<BugCheckException>(() => CancelVersusCompletion(failing!.Value, RaceBug.IgnoreCancelRoutineReturn, verifier: true));
        Assert.Equal(first.Code, replay.BugCheck.Code);
        Assert.Equal(first.Parameter1, replay.BugCheck.Parameter1);
        Assert.Equal(first.Time, replay.BugCheck.Time);
        Assert.Equal(first.Thread, replay.BugCheck.Thread);
        Assert.Equal(first.RecentTrace.Select(e => e.ToString()), replay.BugCheck.RecentTrace.Select(e => e.ToString()));

        // The textbook driver under the same seed is fine.
        CancelVersusCompletion(failing!.Value, RaceBug.None, verifier: true);
    }

    /// <summary>
    /// Only cancellation ends these reads, and each is cancelled once, by a CancelIoEx that lands at a random point —
    /// possibly before the dispatch routine has set its cancel routine. The driver must then see Irp.Cancel.
    /// </summary>
    private static void CancelOnce(ulong seed, RaceBug bug)
    {
        var driver = new RaceDriver { Bug = bug, WorkerCompletes = false };
        using Machine machine = NewRaceMachine(driver, seed);
        machine.Run("app", () =>
        {
            Handle h = OpenRace();
            Handle port = CreateIoCompletionPort(h, NULL, 1, 0);
            var ovs = new[] { new OVERLAPPED(), new OVERLAPPED() };
            Handle canceller = StartThread(() =>
            {
                foreach (OVERLAPPED ov in ovs)
                {
                    // Retry until the request exists (is on its thread's list), then cancel it exactly once.
                    while (!CancelIoEx(h, ov))
                    {
                        Assert.Equal(ERROR_NOT_FOUND, GetLastError());
                    }
                }
            });
            foreach (OVERLAPPED ov in ovs)
            {
                Assert.False(ReadFile(h, new byte[8], 8, ov));
            }

            for (int i = 0; i < ovs.Length; i++)
            {
                Assert.False(GetQueuedCompletionStatus(port, out _, out _, out OVERLAPPED? got, INFINITE));
                Assert.Equal(ERROR_OPERATION_ABORTED, GetLastError());
                Assert.Contains(got, ovs);
            }

            Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(canceller, INFINITE));
            Assert.Equal(ovs.Length, driver.CompletedByCancel);
            CloseHandle(h);
            CloseHandle(port);
        });
    }

    [Fact]
    public void CancelIoEx_BeforeCancelRoutineIsSet_DriverSeesIrpCancelUnderEverySeed()
    {
        for (ulong seed = 1; seed <= Seeds; seed++)
        {
            CancelOnce(seed, RaceBug.None);
        }
    }

    /// <summary>Without the Irp.Cancel check after IoSetCancelRoutine, an early cancel is lost: some seed hangs, and replays so.</summary>
    [Fact]
    public void CancelIoEx_DriverSkipsCancelCheckAfterSet_LostRequestFoundAsDeadlockAndReplayed()
    {
        ulong? failing = null;
        string? report = null;
        for (ulong seed = 1; seed <= 2000 && failing is null; seed++)
        {
            try
            {
                CancelOnce(seed, RaceBug.NoCancelCheckAfterSet);
            }
            catch (DeadlockException e)
            {
                failing = seed;
                report = e.Message;
            }
        }

        Assert.NotNull(failing);
        DeadlockException replay = Assert.Throws<DeadlockException>(() => CancelOnce(failing!.Value, RaceBug.NoCancelCheckAfterSet));
        Assert.Equal(report, replay.Message);
        CancelOnce(failing!.Value, RaceBug.None);
    }

    /// <summary>
    /// Closing the handle while its reads race the worker and a canceller: IRP_MJ_CLEANUP takes the ones still queued;
    /// each ReadFileEx routine runs exactly once, with success or ERROR_OPERATION_ABORTED.
    /// </summary>
    [Fact]
    public void CloseHandle_WithReadsPendingRacingWorkerAndCancel_EachRoutineRunsOnceUnderEverySeed()
    {
        for (ulong seed = 1; seed <= Seeds; seed++)
        {
            var driver = new RaceDriver();
            using Machine machine = NewRaceMachine(driver, seed);
            machine.Run("app", () =>
            {
                Handle h = OpenRace();
                var ovs = new OVERLAPPED[Reads];
                var calls = new Dictionary<OVERLAPPED, List<uint>>();
                for (int i = 0; i < Reads; i++)
                {
                    ovs[i] = new OVERLAPPED();
                    calls[ovs[i]] = [];
                }

                Handle canceller = StartThread(() => CancelIoEx(h, ovs[1]));
                foreach (OVERLAPPED ov in ovs)
                {
                    Assert.True(ReadFileEx(h, new byte[8], 8, ov, (error, bytes, o) => calls[o].Add(error)));
                }

                Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(canceller, INFINITE));
                Assert.True(CloseHandle(h));
                int ran = 0;
                while (ran < Reads)
                {
                    Assert.Equal(WAIT_IO_COMPLETION, SleepEx(INFINITE, TRUE));
                    ran = calls.Values.Sum(c => c.Count);
                }

                Assert.Equal(0u, SleepEx(0, TRUE));
                Assert.All(calls.Values, c => Assert.True(c.Count == 1 && c[0] is ERROR_SUCCESS or ERROR_OPERATION_ABORTED));
                Assert.Equal(Reads, driver.Completed);
                CloseHandle(canceller);
            });
        }
    }

    /// <summary>
    /// A thread exits with reads pending while the worker completes them: the exit cancels the rest and waits for them
    /// (promptly: the driver honours cancellation). Another thread's reads, issued meanwhile, are never cancelled —
    /// also with the verifier off, when completed IRPs are recycled.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ThreadExit_WithReadsPendingRacingWorker_AllCompleteOnceUnderEverySeed(bool verifier)
    {
        for (ulong seed = 1; seed <= Seeds; seed++)
        {
            var driver = new RaceDriver();
            using Machine machine = NewRaceMachine(driver, seed, verifier);
            machine.Run("app", () =>
            {
                Handle h = OpenRace();
                var ovs = new OVERLAPPED[Reads];
                Handle worker = StartThread(() =>
                {
                    for (int i = 0; i < Reads; i++)
                    {
                        ovs[i] = new OVERLAPPED { hEvent = CreateEvent(null, TRUE, FALSE, null) };
                        Assert.False(ReadFile(h, new byte[8], 8, ovs[i]));
                    }
                });
                var mine = new OVERLAPPED { hEvent = CreateEvent(null, TRUE, FALSE, null) };
                Assert.False(ReadFile(h, new byte[8], 8, mine));
                Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(worker, INFINITE));

                // The exiting thread polls every 100 ms for its cancelled requests (§7.7); one poll at most here.
                Assert.InRange(GetTickCount(), 0u, 100u);
                foreach (OVERLAPPED ov in ovs)
                {
                    Assert.True(IsSignaled(ov.hEvent));
                    Assert.True(ov.Status is NtStatus.STATUS_SUCCESS or NtStatus.STATUS_CANCELLED);
                }

                Assert.Equal(WAIT_OBJECT_0, WaitForSingleObject(mine.hEvent, INFINITE));
                Assert.Equal(NtStatus.STATUS_SUCCESS, mine.Status);
                Assert.Equal(Reads + 1, driver.Completed);
                CloseHandle(worker);
                CloseHandle(h);
            });
        }
    }
}
