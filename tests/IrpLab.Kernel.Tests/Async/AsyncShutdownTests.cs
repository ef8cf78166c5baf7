using IrpLab.Async;
using IrpLab.Samples;
using AsyncIoctlDriver = IrpLab.Samples.AsyncIoctl.Driver;

namespace IrpLab.Tests.Async;

/// <summary>
/// An async main's process exits whatever the schedule. The code after the await runs on the completion-port
/// dispatcher thread, so the main thread may begin the process exit while that thread is still running, between
/// entering GetQueuedCompletionStatus and blocking in it; the removal must then see the termination request instead
/// of blocking for good (seeds 12, 22 and 27 took that path and deadlocked).
/// </summary>
public sealed class AsyncShutdownTests
{
    private static readonly byte[] s_request = Ansi.Bytes("Request from user mode to Send A Packet.\n");

    [Theory]
    [InlineData(3UL)]
    [InlineData(4UL)]
    [InlineData(12UL)]
    [InlineData(22UL)]
    [InlineData(27UL)]
    public void Run_AsyncMainAwaitingOneIoctl_ExitsUnderSeed(ulong seed)
    {
        using var machine = new Machine(new MachineOptions { Deterministic = true, Seed = seed });
        Assert.Equal(NtStatus.STATUS_SUCCESS, machine.LoadDriver("AsyncIoctl", AsyncIoctlDriver.DriverEntry));
        int bytes = 0;
        int exit = machine.Run("app", async () =>
        {
            using AsyncDevice device = AsyncDevice.Open(@"\\.\AsyncIoctl");
            bytes = await device.DeviceIoControlAsync(AsyncIoctlDriver.IOCTL_FILTER_SEND_MYOWN_PACKET, s_request, new byte[32]);
            return 7;
        });

        Assert.Equal(7, exit);
        Assert.Equal(32, bytes);
    }
}
