namespace IrpLab;

/// <summary>A directory of the object namespace (\, \Device, \GLOBAL??, ...). Names are case-insensitive.</summary>
internal sealed class ObjectDirectory : KernelObject
{
    private readonly Dictionary<string, KernelObject> _entries = new(StringComparer.OrdinalIgnoreCase);

    internal override ObjectType Type => ObjectType.Directory;

    public bool TryGet(string name, out KernelObject? obj) => _entries.TryGetValue(name, out obj);

    public bool TryAdd(string name, KernelObject obj) => _entries.TryAdd(name, obj);

    public bool Remove(string name) => _entries.Remove(name);

    public IEnumerable<KeyValuePair<string, KernelObject>> Entries => _entries;
}

/// <summary>A symbolic link of the object namespace: \GLOBAL??\Name → \Device\Name.</summary>
internal sealed class SymbolicLinkObject : KernelObject
{
    public SymbolicLinkObject(string target)
    {
        Target = target;
    }

    public string Target { get; }

    internal override ObjectType Type => ObjectType.SymbolicLink;
}
