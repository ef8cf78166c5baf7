using System.ComponentModel;
using IrpLab.Async;
using IrpLab.Samples;
using static IrpLab.Kernel32;
using AsyncIoctlDriver = IrpLab.Samples.AsyncIoctl.Driver;
using SurpriseDriver = IrpLab.Samples.SyncCompletionSurprise.Driver;

namespace IrpLab.Tests.Async;

/// <summary>The .NET layer: requests awaited through a completion port, in deterministic mode and virtual time.</summary>
public sealed class AsyncDeviceTests
{
    private static readonly byte[] s_request = Ansi.Bytes("Request from user mode to Send A Packet.\n");

    private static Machine NewMachine(ulong seed = 1)
    {
        var machine = new Machine(new MachineOptions { Deterministic = true, Seed = seed });
        Assert.Equal(NtStatus.STATUS_SUCCESS, machine.LoadDriver("AsyncIoctl", AsyncIoctlDriver.DriverEntry));
        Assert.Equal(NtStatus.STATUS_SUCCESS, machine.LoadDriver("Surprise", SurpriseDriver.DriverEntry));
        return machine;
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    public void DeviceIoControlAsync_PendedRequest_CompletesWithDataAfterFiveVirtualSeconds(ulong seed)
    {
        using Machine machine = NewMachine(seed);
        string? text = null;
        long completedAt = 0;
        int bytes = 0;
        int exit = machine.Run("app", async () =>
        {
            using AsyncDevice device = AsyncDevice.Open(@"\\.\AsyncIoctl");
            byte[] output = new byte[32];
            bytes = await device.DeviceIoControlAsync(AsyncIoctlDriver.IOCTL_FILTER_SEND_MYOWN_PACKET, s_request, output);
            completedAt = (long)GetTickCount64();
            text = Ansi.Text(output);
            return 0;
        });

        Assert.Equal(0, exit);
        Assert.Equal(32, bytes);
        Assert.Equal("Hi Mon, I finish your request!\n", text);
        Assert.Equal(5000, completedAt);
    }

    [Fact]
    public void DeviceIoControlAsync_ImmediateSuccess_StillCompletesThroughThePort()
    {
        using Machine machine = NewMachine();
        int bytes = -1;
        machine.Run("app", async () =>
        {
            using AsyncDevice device = AsyncDevice.Open(@"\\.\Surprise");
            ValueTask<int> pending = device.DeviceIoControlAsync(SurpriseDriver.IOCTL_FILTER_SEND_MYOWN_PACKET, null, new byte[32]);
            bytes = await pending;
            return 0;
        });

        Assert.Equal(13, bytes);
    }

    [Fact]
    public void DeviceIoControlAsync_Cancelled_ThrowsOperationCanceledException()
    {
        using Machine machine = NewMachine();
        Exception? caught = null;
        long at = 0;
        machine.Run("app", async () =>
        {
            using AsyncDevice device = AsyncDevice.Open(@"\\.\AsyncIoctl");
            using var cts = new CancellationTokenSource();
            ValueTask<int> request = device.DeviceIoControlAsync(AsyncIoctlDriver.IOCTL_FILTER_SEND_MYOWN_PACKET, s_request, new byte[32], cts.Token);
            Sleep(2000);
            cts.Cancel();
            try
            {
                await request;
            }
            catch (OperationCanceledException ex)
            {
                caught = ex;
                at = (long)GetTickCount64();
            }

            return 0;
        });

        Assert.IsType<OperationCanceledException>(caught);
        Assert.Equal(2000, at);
    }

    [Fact]
    public void DeviceIoControlAsync_ImmediateError_ThrowsWin32ExceptionWithoutAPacket()
    {
        using Machine machine = NewMachine();
        Win32Exception? caught = null;
        machine.Run("app", async () =>
        {
            using AsyncDevice device = AsyncDevice.Open(@"\\.\AsyncIoctl");

            // Any other code: the driver completes it at once with STATUS_INVALID_DEVICE_REQUEST.
            caught = await Assert.ThrowsAsync<Win32Exception>(async () => await device.DeviceIoControlAsync(0x00220004, null, null));
            return 0;
        });

        Assert.Equal((int)ERROR_INVALID_FUNCTION, caught!.NativeErrorCode);
    }

    [Fact]
    public void Open_UnknownDevice_ThrowsWin32ExceptionFileNotFound()
    {
        using Machine machine = NewMachine();
        Win32Exception? caught = null;
        machine.Run("app", () =>
        {
            caught = Assert.Throws<Win32Exception>(() => AsyncDevice.Open(@"\\.\NoSuchDevice"));
            return Task.FromResult(0);
        });

        Assert.Equal((int)ERROR_FILE_NOT_FOUND, caught!.NativeErrorCode);
    }

    [Fact]
    public void DeviceIoControlAsync_TwoMachinesSideBySide_EachUsesItsOwnDispatcher()
    {
        using Machine a = NewMachine(1);
        using Machine b = NewMachine(2);
        foreach (Machine m in new[] { a, b })
        {
            int bytes = 0;
            m.Run("app", async () =>
            {
                using AsyncDevice device = AsyncDevice.Open(@"\\.\AsyncIoctl");
                bytes = await device.DeviceIoControlAsync(AsyncIoctlDriver.IOCTL_FILTER_SEND_MYOWN_PACKET, s_request, new byte[32]);
                return 0;
            });
            Assert.Equal(32, bytes);
        }
    }
}
