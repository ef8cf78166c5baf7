namespace IrpLab;

/// <summary>
/// LIST_ENTRY: a node of a doubly linked circular list. A list head is a ListEntry whose Flink and Blink point to
/// itself when empty. An entry embedded in a structure knows its container, which is what CONTAINING_RECORD
/// returns (C computes it from the field offset; here the entry remembers it).
/// </summary>
public sealed class ListEntry
{
    public ListEntry()
    {
        Flink = this;
        Blink = this;
    }

    /// <summary>An entry embedded in <paramref name="container"/>.</summary>
    public ListEntry(object container)
        : this()
    {
        Container = container;
    }

    public ListEntry Flink { get; internal set; }

    public ListEntry Blink { get; internal set; }

    /// <summary>The structure this entry is embedded in (CONTAINING_RECORD's answer).</summary>
    public object? Container { get; }
}
