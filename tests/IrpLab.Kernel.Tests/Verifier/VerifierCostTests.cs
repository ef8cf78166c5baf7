using IrpLab.Tests.Io;
using static IrpLab.NtStatus;
using static IrpLab.Wdm;
using K32 = IrpLab.Kernel32;

namespace IrpLab.Tests.Verifier;

/// <summary>With the verifier off its hooks cost nothing: the hot paths they sit on still allocate nothing (performance.md T1).</summary>
public sealed class VerifierCostTests
{
    private static readonly KSpinLock s_lock = new();

    /// <summary>Completes in dispatch, taking a spin lock on the way (the deadlock hooks), with the request's length.</summary>
    private static NtStatus CompleteAtOnce(DeviceObject device, Irp irp)
    {
        KeAcquireSpinLock(s_lock, out byte old);
        KeReleaseSpinLock(s_lock, old);
        irp.IoStatus.Status = STATUS_SUCCESS;
        irp.IoStatus.Information = 16;
        IoCompleteRequest(irp, IO_NO_INCREMENT);
        return STATUS_SUCCESS;
    }

    [Fact]
    public void VerifierOff_SynchronousIoctlAndRead_AllocateNothing()
    {
        using var m = new Machine(new MachineOptions { Deterministic = false, Verifier = false });
        var driver = new TestDriver("Cost");
        driver.Load(m);
        driver.Driver.MajorFunction[IRP_MJ_DEVICE_CONTROL] = CompleteAtOnce;
        driver.Driver.MajorFunction[IRP_MJ_READ] = CompleteAtOnce;
        byte[] input = new byte[16];
        byte[] output = new byte[16];
        long allocated;
        using (m.AttachThread("app"))
        {
            Handle h = OpenTests.Open(driver.Win32Name);
            uint n = 0;
            for (int i = 0; i < 200; i++)
            {
                K32.DeviceIoControl(h, TestIoctls.Buffered, input, 16, output, 16, ref n, null);
                K32.ReadFile(h, output, 16, ref n, null);
            }

            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 1000; i++)
            {
                K32.DeviceIoControl(h, TestIoctls.Buffered, input, 16, output, 16, ref n, null);
                K32.ReadFile(h, output, 16, ref n, null);
            }

            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.Equal(16u, n);
            K32.CloseHandle(h);
        }

        Assert.Equal(0, allocated);
    }
}
