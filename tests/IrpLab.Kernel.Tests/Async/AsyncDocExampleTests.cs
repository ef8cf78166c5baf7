using IrpLab.Async;
using IrpLab.Samples;
using AsyncIoctlDriver = IrpLab.Samples.AsyncIoctl.Driver;

namespace IrpLab.Tests.Async;

/// <summary>The example of docs/async.md, as written there.</summary>
public sealed class AsyncDocExampleTests
{
    [Fact]
    public void DocExample_AwaitedAndCancelledIoctl_ReturnsBytesAndReportsCancel()
    {
        byte[] request = Ansi.Bytes("Request from user mode to Send A Packet.\n");
        bool cancelled = false;

        using var machine = new Machine(new MachineOptions { Deterministic = true, Seed = 1 });
        machine.LoadDriver("AsyncIoctl", AsyncIoctlDriver.DriverEntry);
        int exit = machine.Run("app", async () =>
        {
            using AsyncDevice device = AsyncDevice.Open(@"\\.\AsyncIoctl");
            byte[] output = new byte[32];

            // Pended by the driver and completed by its system thread five virtual seconds later.
            int bytes = await device.DeviceIoControlAsync(AsyncIoctlDriver.IOCTL_FILTER_SEND_MYOWN_PACKET, request, output);

            // Cancelled through the token: CancelIoEx, then OperationCanceledException.
            using var cts = new CancellationTokenSource();
            ValueTask<int> doomed = device.DeviceIoControlAsync(AsyncIoctlDriver.IOCTL_FILTER_SEND_MYOWN_PACKET, request, new byte[32], cts.Token);
            cts.Cancel();
            try
            {
                await doomed;
            }
            catch (OperationCanceledException)
            {
                cancelled = true;
            }

            return bytes;
        });

        Assert.Equal(32, exit);
        Assert.True(cancelled);
    }
}
