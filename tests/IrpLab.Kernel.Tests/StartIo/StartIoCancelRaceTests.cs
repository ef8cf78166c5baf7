using static IrpLab.Kernel32;
using SampleDriver = IrpLab.Samples.StartIo.Driver;

namespace IrpLab.Tests.StartIo;

/// <summary>
/// The StartIo-versus-cancel race (nt-io-semantics §9.4), explored over many schedules of the deterministic machine.
/// Reads are issued, finished by the driver's timer DPC and cancelled with CancelIoEx by a second thread, all at the
/// same virtual instants, so the seed decides who goes first at every scheduling point: a cancel can land before
/// IoStartPacket, while the IRP is queued, between IoStartNextPacket choosing it and StartIo claiming it, or after.
/// </summary>
public sealed class StartIoCancelRaceTests
{
    private const int Seeds = 500;
    private const int Reads = 4;
    private const uint Lost = uint.MaxValue;

    /// <summary>What one schedule produced.</summary>
    private sealed record RaceRun(uint[] Errors, SampleDriver.DEVICE_EXTENSION Statistics, bool DeviceIdleAtEnd);

    /// <summary>
    /// Read 1 at 0 s (done at 3 s); reads 2 and 3 at 3 s, read 4 at 6 s; CancelIoEx(NULL) from another thread at 3 s and
    /// at 6 s. Returns each read's last error (0 success, ERROR_OPERATION_ABORTED, or <see cref="Lost"/>).
    /// </summary>
    private static RaceRun Run(ulong seed, DriverInitialize driverEntry, bool verifier = true)
    {
        using var m = new Machine(new MachineOptions { Deterministic = true, Seed = seed, Processors = 2, MaxSteps = 200_000, Verifier = verifier });
        DeviceObject? device = null;
        m.LoadDriver("HelloDDK", (d, path) =>
        {
            NtStatus status = driverEntry(d, path);
            device = d.DeviceObject;
            return status;
        });

        uint[] errors = new uint[Reads];
        m.Run("app", () =>
        {
            Handle h = CreateFile(@"\\.\HelloDDK", GENERIC_READ, 0, null, OPEN_EXISTING, FILE_FLAG_OVERLAPPED, NULL);
            Assert.NotEqual(INVALID_HANDLE_VALUE, h);
            Handle canceller = CreateThread(null, 0, static handle =>
            {
                Sleep(3000);
                CancelIoEx((Handle)handle!, null);
                Sleep(3000);
                CancelIoEx((Handle)handle!, null);
                return 0;
            }, h, 0, out _);

            var overlapped = new OVERLAPPED[Reads];
            for (int i = 0; i < Reads; i++)
            {
                overlapped[i] = new OVERLAPPED { hEvent = CreateEvent(null, TRUE, FALSE, null) };
                if (i is 1 or 3)
                {
                    Sleep(3000);
                }

                ReadFile(h, new byte[10], 10, overlapped[i]);
            }

            for (int i = 0; i < Reads; i++)
            {
                // A read nobody completes is lost; a minute of virtual time costs nothing.
                if (WaitForSingleObject(overlapped[i].hEvent, 60_000) != WAIT_OBJECT_0)
                {
                    errors[i] = Lost;
                    continue;
                }

                uint bytes = 0;
                errors[i] = GetOverlappedResult(h, overlapped[i], ref bytes, FALSE) ? 0 : GetLastError();
                CloseHandle(overlapped[i].hEvent);
            }

            WaitForSingleObject(canceller, INFINITE);
            CloseHandle(canceller);
            CloseHandle(h);
        });

        bool idle = !device!.DeviceQueue.Busy && device.CurrentIrp is null;
        var statistics = (SampleDriver.DEVICE_EXTENSION)device.DeviceExtension!;
        m.UnloadDriver("HelloDDK");
        return new RaceRun(errors, statistics, idle);
    }

    [Fact]
    public void StartIoSample_CancelRacingStartIoUnderManySchedules_EveryReadCompletesOnceWithSuccessOrCancelled()
    {
        int cancelledAsCurrent = 0, leftToCancelRoutine = 0, startIoCancelled = 0, succeeded = 0, aborted = 0;
        for (ulong seed = 1; seed <= Seeds; seed++)
        {
            // A second completion of any IRP would stop the machine (0x44) and throw here.
            RaceRun run = Run(seed, SampleDriver.DriverEntry);
            foreach (uint error in run.Errors)
            {
                Assert.True(error is 0 or ERROR_OPERATION_ABORTED, $"seed {seed}: a read ended with {(error == Lost ? "no completion" : "error " + error)}");
            }

            Assert.True(run.DeviceIdleAtEnd, $"seed {seed}: the device is still busy after every read completed");
            succeeded += run.Errors.Count(e => e == 0);
            aborted += run.Errors.Count(e => e == ERROR_OPERATION_ABORTED);
            cancelledAsCurrent += run.Statistics.CancelledAsCurrentIrp;
            leftToCancelRoutine += run.Statistics.StartIoLeftToCancelRoutine;
            startIoCancelled += run.Statistics.StartIoCompletedCancelled;
        }

        // The schedules reached every window: the cancel routine taking the IRP that was already CurrentIrp (and
        // StartIo then leaving it alone), and StartIo completing an IRP cancelled before it had a cancel routine.
        Assert.True(succeeded > 0 && aborted > 0, $"{succeeded} succeeded, {aborted} aborted");
        Assert.True(cancelledAsCurrent > 0, "no schedule cancelled an IRP between IoStartNextPacket and StartIo");
        Assert.True(leftToCancelRoutine > 0, "no schedule had StartIo find its IRP taken by the cancel routine");
        Assert.True(startIoCancelled > 0, "no schedule cancelled a read before IoStartPacket on an idle device");
    }

    /// <summary>The first seed (up to <see cref="Seeds"/>) whose run stops the machine with <paramref name="code"/>.</summary>
    private static (ulong Seed, BugCheckInfo BugCheck) FindBugCheck(DriverInitialize driverEntry, uint code, bool verifier = true)
    {
        for (ulong seed = 1; seed <= Seeds; seed++)
        {
            try
            {
                Run(seed, driverEntry, verifier);
            }
            catch (BugCheckException ex) when (ex.BugCheck.Code == code)
            {
                return (seed, ex.BugCheck);
            }
        }

        Assert.Fail($"no seed up to {Seeds} stopped the machine with 0x{code:X}");
        return default;
    }

    [Fact]
    public void StartIoWithoutChecksAndACancelRoutineThatCompletesCurrentIrp_SomeSchedule_DoubleCompletes0x44AndTheSeedReplaysIt()
    {
        (ulong seed, BugCheckInfo found) = FindBugCheck(BuggyStartIoDrivers.UncheckedStartIo, BugCheckCatalogue.MULTIPLE_IRP_COMPLETE_REQUESTS);

        // Replaying the seed replays the schedule: the same stop, with the same IRP, at the same step.
        BugCheckInfo replayed = Assert.Throws<BugCheckException>(() => Run(seed, BuggyStartIoDrivers.UncheckedStartIo)).BugCheck;
        Assert.Equal(found.Code, replayed.Code);
        Assert.Equal(found.Parameter1, replayed.Parameter1);
        Assert.Equal(found.Diagnosis, replayed.Diagnosis);
        Assert.Equal(found.FaultingRoutine, replayed.FaultingRoutine);
        Assert.Equal(found.RecentTrace.Select(e => e.ToString()), replayed.RecentTrace.Select(e => e.ToString()));

        // The second completion is the timer DPC's, after the cancel routine completed the IRP that was CurrentIrp.
        Assert.Equal(nameof(SampleDriver.HelloDDKReadDone), replayed.FaultingRoutine);
    }

    [Fact]
    public void SeedOnCancelIrp_CancelOfTheCurrentIrp_IoStartNextPacketAtPassiveLevelIsAVerifierStop()
    {
        (ulong seed, BugCheckInfo found) = FindBugCheck(BuggyStartIoDrivers.SeedCancelRoutine, BugCheckCatalogue.DRIVER_VERIFIER_DETECTED_VIOLATION);

        // 0xC4 / 0xE5: IoStartNextPacket called at PASSIVE_LEVEL (Irp->CancelIrql), inside the cancel routine.
        Assert.Equal(0xE5UL, found.Parameter1);
        Assert.Equal((ulong)Wdm.PASSIVE_LEVEL, found.Parameter2);
        Assert.Contains("IoStartNextPacket", found.Diagnosis, StringComparison.Ordinal);
        Assert.Equal("SeedOnCancelIRP", found.FaultingRoutine);
        BugCheckInfo replayed = Assert.Throws<BugCheckException>(() => Run(seed, BuggyStartIoDrivers.SeedCancelRoutine)).BugCheck;
        Assert.Equal(found.Diagnosis, replayed.Diagnosis);

        // A free build does not check the IRQL of IoStartNextPacket, and the routine's logic is sound: the same
        // schedule without the verifier completes every read once.
        RaceRun run = Run(seed, BuggyStartIoDrivers.SeedCancelRoutine, verifier: false);
        Assert.All(run.Errors, e => Assert.True(e is 0 or ERROR_OPERATION_ABORTED));
        Assert.True(run.DeviceIdleAtEnd);
    }
}
