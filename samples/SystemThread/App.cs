using static IrpLab.Kernel32;

namespace IrpLab.Samples.SystemThread;

/// <summary>The application side: nothing to ask the driver; it lets ten seconds pass while the thread prints.</summary>
public static class App
{
    public static int Main()
    {
        printf("app: sleeping 10 seconds while the driver's thread runs\n");
        Sleep(10_000);
        printf("app: done\n");
        return 0;
    }
}

/// <summary>Loads the driver, runs the app, unloads the driver (KmdManager's role in the seed).</summary>
public static class Host
{
    public static int Run(Machine machine)
    {
        machine.LoadDriver("SysThread", Driver.DriverEntry);
        int exit = machine.Run("app", App.Main);
        machine.UnloadDriver("SysThread");
        return exit;
    }
}
