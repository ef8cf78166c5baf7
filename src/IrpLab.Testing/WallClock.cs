using System.Diagnostics;

namespace IrpLab.Testing;

/// <summary>
/// Host wall time, for the explorer's own reports (runs per second) and budgets (time limits). It measures the
/// host's work around machines and is never visible to code running inside one, whose time stays virtual.
/// </summary>
internal static class WallClock
{
    public static long Now => Stopwatch.GetTimestamp(); // determinism-ok: host-side speed report, outside any machine

    public static TimeSpan Since(long start) => Stopwatch.GetElapsedTime(start); // determinism-ok: host-side speed report
}
