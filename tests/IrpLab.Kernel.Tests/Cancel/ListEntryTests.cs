using static IrpLab.Wdm;

namespace IrpLab.Tests.Cancel;

/// <summary>The LIST_ENTRY helpers a driver queues IRPs with (wdm.h), and CONTAINING_RECORD.</summary>
public sealed class ListEntryTests
{
    private sealed class Item
    {
        public Item(int value)
        {
            Value = value;
            Link = new ListEntry(this);
        }

        public int Value { get; }

        public ListEntry Link { get; }
    }

    private static int[] Values(ListEntry head)
    {
        var values = new List<int>();
        for (ListEntry e = head.Flink; e != head; e = e.Flink)
        {
            Assert.Same(e, e.Flink.Blink);
            values.Add(CONTAINING_RECORD<Item>(e).Value);
        }

        return [.. values];
    }

    [Fact]
    public void InitializeListHead_NewHead_EmptyAndSelfLinked()
    {
        var head = new ListEntry();
        InitializeListHead(head);
        Assert.True(IsListEmpty(head));
        Assert.Same(head, head.Flink);
        Assert.Same(head, head.Blink);
    }

    [Fact]
    public void InsertHeadAndTailList_Mixed_OrderedAndDoublyLinked()
    {
        var head = new ListEntry();
        InitializeListHead(head);
        InsertTailList(head, new Item(2).Link);
        InsertHeadList(head, new Item(1).Link);
        InsertTailList(head, new Item(3).Link);
        Assert.False(IsListEmpty(head));
        Assert.Equal([1, 2, 3], Values(head));
        Assert.Equal(3, CONTAINING_RECORD<Item>(head.Blink).Value);
    }

    [Fact]
    public void RemoveHeadAndTailList_ThreeItems_RemoveFromEachEnd()
    {
        var head = new ListEntry();
        InitializeListHead(head);
        foreach (int v in new[] { 1, 2, 3 })
        {
            InsertTailList(head, new Item(v).Link);
        }

        Assert.Equal(1, CONTAINING_RECORD<Item>(RemoveHeadList(head)).Value);
        Assert.Equal(3, CONTAINING_RECORD<Item>(RemoveTailList(head)).Value);
        Assert.Equal([2], Values(head));
        Assert.Equal(2, CONTAINING_RECORD<Item>(RemoveHeadList(head)).Value);
        Assert.True(IsListEmpty(head));
    }

    [Fact]
    public void RemoveHeadList_EmptyList_ReturnsTheHeadItself()
    {
        var head = new ListEntry();
        InitializeListHead(head);
        Assert.Same(head, RemoveHeadList(head));
        Assert.Same(head, RemoveTailList(head));
        Assert.True(IsListEmpty(head));
    }

    [Fact]
    public void RemoveEntryList_MiddleAndLast_TrueOnlyWhenListBecomesEmpty()
    {
        var head = new ListEntry();
        InitializeListHead(head);
        var a = new Item(1);
        var b = new Item(2);
        InsertTailList(head, a.Link);
        InsertTailList(head, b.Link);
        Assert.False(RemoveEntryList(a.Link));
        Assert.Equal([2], Values(head));

        // A removed entry points at itself, so removing it again (a cancel routine racing a dequeue) is harmless.
        Assert.Same(a.Link, a.Link.Flink);
        Assert.True(RemoveEntryList(a.Link));
        Assert.Equal([2], Values(head));

        Assert.True(RemoveEntryList(b.Link));
        Assert.True(IsListEmpty(head));
    }

    [Fact]
    public void ContainingRecord_WrongTypeOrBareEntry_Throws()
    {
        var item = new Item(7);
        Assert.Same(item, CONTAINING_RECORD<Item>(item.Link));
        Assert.Throws<InvalidOperationException>(() => CONTAINING_RECORD<string>(item.Link));
        Assert.Throws<InvalidOperationException>(() => CONTAINING_RECORD<Item>(new ListEntry()));
    }
}
