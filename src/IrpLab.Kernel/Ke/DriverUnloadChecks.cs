using System.Globalization;
using System.Text;

namespace IrpLab;

/// <summary>
/// What the kernel finds when a driver image is unloaded while something can still call into it: an IRP the driver
/// still holds (pending in one of its devices, in its device queue, or below it with its completion routine set: its
/// cancel or completion routine, or its StartIo, would run later), a queued timer
/// (its DPC, or a waiter's wake-up, would run later), a queued or running DPC, a connected interrupt, or an executive
/// work item (ExQueueWorkItem) queued or running. On Windows the crash comes when the stale code address is reached;
/// the machine stops at the unload itself, with DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS (0xCE) and a
/// diagnosis naming what was left behind. An IO_WORKITEM (IoQueueWorkItem) is not on the list: it holds a reference
/// on its device object, which keeps the image loaded until its routine has run.
/// <para>UNCONFIRMED: for a queued timer Windows may report TIMER_OR_DPC_INVALID (0xC7) from its unload-time timer
/// scan instead; the specification (nt-io-semantics.md §8.3) asks for 0xCE.</para>
/// </summary>
internal static class DriverUnloadChecks
{
    /// <summary>Called by the I/O manager right after the driver's unload routine returned.</summary>
    public static void AfterUnloadRoutine(Machine machine, DriverObject driver, List<DeviceObject> devices)
    {
        string name = driver.Name;
        var irps = new List<(Irp Irp, string Where)>();
        machine.Io.CollectHeldIrps(driver, devices, irps);
        var timers = new List<KTimer>();
        var dpcs = new List<(KDpc Dpc, bool Running)>();
        var interrupts = new List<KInterrupt>();
        var workItems = new List<(WorkQueueEntry Entry, bool Running)>();
        machine.TimerObjects.CollectQueued(name, timers);
        machine.Dpcs.CollectPending(name, dpcs);
        machine.Interrupts.CollectConnected(name, interrupts);
        machine.Workers.CollectPending(name, workItems);
        if (irps.Count + timers.Count + dpcs.Count + interrupts.Count + workItems.Count == 0)
        {
            return;
        }

        var b = new StringBuilder();
        b.Append("Driver ").Append(name).Append(" was unloaded while it still had ");
        var items = new List<string>();
        ulong address = 0;
        foreach ((Irp irp, string where) in irps)
        {
            address = address == 0 ? irp.DebugAddress(machine) : address;
            items.Add(irp + " " + where);
        }

        foreach (KTimer t in timers)
        {
            address = address == 0 ? t.DebugAddress(machine) : address;
            items.Add(string.Create(CultureInfo.InvariantCulture,
                $"timer {t.DebugAddress(machine):X} queued (due at {t.DueTime / 1e7:F7}s{(t.Period > 0 ? $", periodic every {t.Period} ms" : string.Empty)}{(t.Dpc is null ? string.Empty : ", DPC " + t.Dpc.RoutineName)})"));
        }

        foreach ((KDpc dpc, bool running) in dpcs)
        {
            address = address == 0 ? dpc.DebugAddress(machine) : address;
            items.Add(string.Create(CultureInfo.InvariantCulture,
                $"DPC {dpc.RoutineName} ({dpc.DebugAddress(machine):X}) {(running ? "still running" : "queued")}"));
        }

        foreach (KInterrupt i in interrupts)
        {
            address = address == 0 ? i.DebugAddress(machine) : address;
            items.Add(string.Create(CultureInfo.InvariantCulture, $"interrupt vector {i.Vector} connected to ISR {i.RoutineName}"));
        }

        foreach ((WorkQueueEntry entry, bool running) in workItems)
        {
            address = address == 0 ? entry.Owner.DebugAddress(machine) : address;
            items.Add(string.Create(CultureInfo.InvariantCulture,
                $"executive work item {entry.RoutineName} ({entry.Owner.DebugAddress(machine):X}) {(running ? "still running" : "queued")}"));
        }

        b.AppendJoin("; ", items).Append(". When ").Append(items.Count == 1 ? "it fires" : "they fire")
            .Append(", Windows calls into the unloaded image. In DriverUnload complete (STATUS_CANCELLED) or cancel the IRPs the driver holds, cancel timers (KeCancelTimer), remove queued DPCs ")
            .Append("(KeRemoveQueueDpc) and call KeFlushQueuedDpcs, disconnect interrupts (IoDisconnectInterrupt), and wait for ")
            .Append("work items to finish (or use IoAllocateWorkItem/IoQueueWorkItem, which keep the driver loaded).");

        KThread thread = KThread.Current;
        thread.CurrentDriver = name;
        thread.CurrentRoutine = "DriverUnload";
        throw machine.RaiseBugCheck(BugCheckCatalogue.DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS, address, 0, 0, 0, b.ToString());
    }
}
