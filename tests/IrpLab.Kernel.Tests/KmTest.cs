using static IrpLab.NtStatus;

namespace IrpLab.Tests;

/// <summary>
/// Support for kernel-mode tests in the spirit of ReactOS kmtests: a deterministic machine, a body that runs as a
/// driver (so that timers, DPCs and work items are attributed to it), and bug-check capture.
/// </summary>
internal static class KmTest
{
    /// <summary>A deterministic machine with a step bound, so that a broken test fails instead of hanging.</summary>
    public static Machine Machine(ulong seed = 1, int processors = 2, bool verifier = true, bool verbose = false)
        => new(new MachineOptions
        {
            Deterministic = true,
            Seed = seed,
            Processors = processors,
            Verifier = verifier,
            MaxSteps = 500_000,
            CaptureTrace = verbose,
            TraceLevel = verbose ? TraceLevel.Verbose : TraceLevel.Normal,
        });

    /// <summary>Runs <paramref name="body"/> as the DriverEntry of a driver called <paramref name="driver"/>.</summary>
    public static void RunAsDriver(Machine machine, string driver, Action<DriverObject> body)
    {
        NtStatus status = machine.LoadDriver(driver, (d, _) =>
        {
            body(d);
            return STATUS_SUCCESS;
        });
        Assert.Equal(STATUS_SUCCESS, status);
    }

    /// <summary>Runs <paramref name="run"/> and returns the bug check that stopped the machine.</summary>
    public static BugCheckInfo BugCheck(Action run) => Assert.Throws<BugCheckException>(run).BugCheck;
}
