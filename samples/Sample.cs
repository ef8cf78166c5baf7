namespace IrpLab.Samples;

/// <summary>A runnable example: a driver, an application, and the host steps that tie them together.</summary>
public sealed record Sample(string Name, string Title, string Seed, Action<Machine> Run);

/// <summary>Every sample, by name.</summary>
public static class SampleCatalog
{
    public static IReadOnlyList<Sample> All { get; } =
    [
        new("system-thread", "A system thread that prints once a second until unload", "000 (last part)", SystemThread.Host.Run),
    ];

    public static Sample? Find(string name) => All.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase));
}
