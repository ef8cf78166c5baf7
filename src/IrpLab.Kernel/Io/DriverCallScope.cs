namespace IrpLab;

/// <summary>
/// Records which driver routine runs on a thread, for crash attribution, and restores what was there before when
/// disposed: <c>using var scope = new DriverCallScope(t, driver.Name, routine);</c> around every call into driver code.
/// </summary>
internal readonly ref struct DriverCallScope
{
    private readonly KThread _thread;
    private readonly string? _savedDriver;
    private readonly Delegate? _savedCallback;
    private readonly string? _savedRoutine;

    public DriverCallScope(KThread thread, string? driver, Delegate? callback, string? routine = null)
    {
        _thread = thread;
        _savedDriver = thread.CurrentDriver;
        _savedCallback = thread.CurrentCallback;
        _savedRoutine = thread.CurrentRoutine;
        thread.CurrentDriver = driver;
        thread.CurrentCallback = callback;
        thread.CurrentRoutine = routine;
    }

    public void Dispose()
    {
        _thread.CurrentDriver = _savedDriver;
        _thread.CurrentCallback = _savedCallback;
        _thread.CurrentRoutine = _savedRoutine;
    }
}
