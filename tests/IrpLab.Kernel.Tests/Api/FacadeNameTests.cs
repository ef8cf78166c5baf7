using System.Reflection;

namespace IrpLab.Tests.Api;

/// <summary>
/// A file may import Wdm, Kernel32 and WinNt all at once (a test that drives a driver from an app): no public name
/// may be declared by two of them, or the compiler reports it as ambiguous (CS0229, CS0121).
/// </summary>
public sealed class FacadeNameTests
{
    [Fact]
    public void Facades_DeclareNoNameTwice()
    {
        Type[] facades = [typeof(Wdm), typeof(Kernel32), typeof(WinNt)];
        var owners = new Dictionary<string, List<string>>();
        foreach (Type facade in facades)
        {
            foreach (MemberInfo member in facade.GetMembers(BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly))
            {
                if (!owners.TryGetValue(member.Name, out List<string>? list))
                {
                    owners[member.Name] = list = [];
                }

                if (!list.Contains(facade.Name))
                {
                    list.Add(facade.Name);
                }
            }
        }

        string[] clashes = owners.Where(kv => kv.Value.Count > 1).Select(kv => kv.Key + " (" + string.Join(", ", kv.Value) + ")").Order().ToArray();
        Assert.Empty(clashes);
        Assert.Contains("TRUE", owners.Keys);
        Assert.Equal(["WinNt"], owners["CTL_CODE"]);
    }
}
