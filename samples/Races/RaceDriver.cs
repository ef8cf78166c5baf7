using static IrpLab.NtStatus;
using static IrpLab.Wdm;

namespace IrpLab.Samples.Races;

/// <summary>The driver parts the race samples share.</summary>
internal static class RaceDriver
{
    public static void InstallCreateClose(DriverObject driver)
    {
        driver.MajorFunction[IRP_MJ_CREATE] = Succeed;
        driver.MajorFunction[IRP_MJ_CLOSE] = Succeed;
        driver.MajorFunction[IRP_MJ_CLEANUP] = Succeed;
    }

    private static NtStatus Succeed(DeviceObject device, Irp irp)
    {
        irp.IoStatus.Status = STATUS_SUCCESS;
        irp.IoStatus.Information = 0;
        IoCompleteRequest(irp, IO_NO_INCREMENT);
        return STATUS_SUCCESS;
    }
}
