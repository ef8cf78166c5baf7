using IrpLab.Async;
using IrpLab.Samples;
using AsyncIoctlDriver = IrpLab.Samples.AsyncIoctl.Driver;

namespace IrpLab.Testing.Tests;

/// <summary>
/// The .NET async layer under schedule exploration: an async main whose awaits complete on the process's completion
/// port dispatcher thread must finish, and its process exit, in every interleaving.
/// </summary>
public sealed class AsyncExplorationTests
{
    private static readonly byte[] s_request = Ansi.Bytes("Request from user mode to Send A Packet.\n");

    /// <summary>One awaited IOCTL that the driver's system thread completes five virtual seconds later.</summary>
    internal static void OneAwaitedIoctl(Machine machine)
    {
        Assert.Equal(NtStatus.STATUS_SUCCESS, machine.LoadDriver("AsyncIoctl", AsyncIoctlDriver.DriverEntry));
        int exit = machine.Run("app", async () =>
        {
            using AsyncDevice device = AsyncDevice.Open(@"\\.\AsyncIoctl");
            return await device.DeviceIoControlAsync(AsyncIoctlDriver.IOCTL_FILTER_SEND_MYOWN_PACKET, s_request, new byte[32]);
        });

        if (exit != 32)
        {
            throw new InvalidOperationException($"The async main returned {exit}, expected 32.");
        }
    }

    /// <summary>
    /// Two IOCTLs in flight: one completed by the driver's system thread, one cancelled through a CancellationToken
    /// (CancelIoEx) right after it was issued, so the cancel races the dispatch routine setting its cancel routine.
    /// </summary>
    internal static void AwaitedAndCancelledIoctl(Machine machine)
    {
        Assert.Equal(NtStatus.STATUS_SUCCESS, machine.LoadDriver("AsyncIoctl", AsyncIoctlDriver.DriverEntry));
        string? text = null;
        bool cancelled = false;
        int exit = machine.Run("app", async () =>
        {
            using AsyncDevice device = AsyncDevice.Open(@"\\.\AsyncIoctl");
            using var cts = new CancellationTokenSource();
            byte[] output = new byte[32];
            ValueTask<int> completed = device.DeviceIoControlAsync(AsyncIoctlDriver.IOCTL_FILTER_SEND_MYOWN_PACKET, s_request, output);
            ValueTask<int> doomed = device.DeviceIoControlAsync(AsyncIoctlDriver.IOCTL_FILTER_SEND_MYOWN_PACKET, s_request, new byte[32], cts.Token);
            cts.Cancel();
            try
            {
                await doomed;
            }
            catch (OperationCanceledException)
            {
                cancelled = true;
            }

            int bytes = await completed;
            text = Ansi.Text(output);
            return bytes;
        });

        if (exit != 32 || !cancelled || text != "Hi Mon, I finish your request!\n")
        {
            throw new InvalidOperationException($"exit {exit}, cancelled {cancelled}, text '{text}'.");
        }
    }

    [Theory]
    [InlineData(StrategyKind.Random)]
    [InlineData(StrategyKind.Pct)]
    [InlineData(StrategyKind.Portfolio)]
    public void AsyncMain_OneAwaitedIoctl_ProcessExitsInEverySchedule(StrategyKind strategy)
    {
        ExplorationResult r = Explorer.AssertNoBug(OneAwaitedIoctl, new ExplorationOptions { Strategy = strategy, Seed = 1, Iterations = 400 });

        Assert.Equal(400, r.Iterations);
        Assert.Equal(0, r.StepBoundHits);
    }

    [Theory]
    [InlineData(StrategyKind.Random, 3334)]
    [InlineData(StrategyKind.Pct, 3333)]
    [InlineData(StrategyKind.Portfolio, 3333)]
    public void AsyncMain_AwaitedAndCancelledIoctl_NoFailureIn10000SchedulesAcrossStrategies(StrategyKind strategy, int iterations)
    {
        ExplorationResult r = Explorer.AssertNoBug(AwaitedAndCancelledIoctl,
            new ExplorationOptions { Strategy = strategy, Seed = 1, Iterations = iterations, StopAtFirstFailure = false });

        Assert.Equal(iterations, r.Iterations);
        Assert.Equal(0, r.Failures);
        Assert.True(r.Decisions > iterations, r.Report());
    }
}
