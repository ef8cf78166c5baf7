using System.Globalization;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text;

namespace IrpLab.Tests.Verifier;

/// <summary>
/// The diagnostics catalogue (<see cref="VerifierDiagnostics.All"/>) cannot drift: every entry names a test of
/// <see cref="VerifierDiagnosticTests"/> that exists, every test there is in the catalogue, and docs/bugchecks.md is
/// generated from it. After a change to the catalogue, regenerate the page and commit it:
/// <code>IRPLAB_UPDATE_DOCS=1 dotnet test IrpLab.slnx --filter FullyQualifiedName~VerifierCatalogueTests</code>
/// (see docs/testing.md).
/// </summary>
public sealed class VerifierCatalogueTests
{
    private const string TestPrefix = "IrpLab.Tests.Verifier.VerifierDiagnosticTests.";

    [Fact]
    public void Catalogue_EveryEntry_NamesAnExistingTest()
    {
        HashSet<string> tests = DiagnosticTests();
        Assert.All(VerifierDiagnostics.All, d =>
        {
            Assert.StartsWith(TestPrefix, d.Test, StringComparison.Ordinal);
            Assert.True(tests.Contains(d.Test[TestPrefix.Length..]), $"{d.Name}: {d.Test} is not a test method of VerifierDiagnosticTests.");
        });
    }

    [Fact]
    public void DiagnosticTests_EveryTest_IsInTheCatalogue()
    {
        var named = VerifierDiagnostics.All.Select(d => d.Test[TestPrefix.Length..]).ToHashSet(StringComparer.Ordinal);
        Assert.All(DiagnosticTests(), t => Assert.Contains(t, named));
        Assert.Equal(VerifierDiagnostics.All.Count, named.Count);
    }

    [Fact]
    public void Catalogue_Entries_AreUniqueAndUseKnownCodes()
    {
        Assert.Equal(VerifierDiagnostics.All.Count, VerifierDiagnostics.All.Select(d => (d.Code, d.Subcode, d.Name)).Distinct().Count());
        Assert.All(VerifierDiagnostics.All, d =>
        {
            if (d.Kind == DiagnosticKind.Warning)
            {
                Assert.Equal(0u, d.Code);
                Assert.Null(d.Subcode);
                Assert.Matches("^[A-Z_]+$", d.Name);
            }
            else
            {
                Assert.NotNull(BugCheckCatalogue.Find(d.Code));
                Assert.StartsWith(BugCheckCatalogue.NameOf(d.Code), d.Name, StringComparison.Ordinal);
                Assert.Equal(d.Code is BugCheckCatalogue.DRIVER_VERIFIER_DETECTED_VIOLATION or BugCheckCatalogue.DRIVER_VERIFIER_IOMANAGER_VIOLATION, d.Subcode is not null);
            }

            Assert.False(string.IsNullOrWhiteSpace(d.Parameters + d.Cause + d.Fix));
        });
    }

    [Fact]
    public void BugChecksPage_MatchesTheCatalogue()
    {
        string actual = BugChecksPage.Generate();
        string path = Path.Combine(RepositoryRoot(), "docs", "bugchecks.md");
        if (Environment.GetEnvironmentVariable("IRPLAB_UPDATE_DOCS") == "1")
        {
            File.WriteAllText(path, actual);
            return;
        }

        Assert.True(File.Exists(path), $"{path} is missing. Generate it: IRPLAB_UPDATE_DOCS=1 dotnet test IrpLab.slnx --filter FullyQualifiedName~VerifierCatalogueTests");
        string expected = File.ReadAllText(path).ReplaceLineEndings("\n");
        Assert.True(expected == actual,
            $"{path} differs from VerifierDiagnostics.All. Regenerate it (IRPLAB_UPDATE_DOCS=1 dotnet test IrpLab.slnx --filter FullyQualifiedName~VerifierCatalogueTests) and commit it.");
    }

    private static HashSet<string> DiagnosticTests()
        => typeof(VerifierDiagnosticTests)
            .GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly)
            .Where(m => m.GetCustomAttribute<FactAttribute>() is not null)
            .Select(m => m.Name)
            .ToHashSet(StringComparer.Ordinal);

    /// <summary>The repository root: above this file as the compiler saw it, or above the output directory.</summary>
    private static string RepositoryRoot([CallerFilePath] string path = "")
    {
        foreach (string? start in new[] { Path.GetDirectoryName(path), AppContext.BaseDirectory })
        {
            for (DirectoryInfo? d = start is null ? null : new(start); d is not null; d = d.Parent)
            {
                if (File.Exists(Path.Combine(d.FullName, "IrpLab.slnx")))
                {
                    return d.FullName;
                }
            }
        }

        throw new DirectoryNotFoundException("Cannot find the repository root (IrpLab.slnx) from " + path + " or " + AppContext.BaseDirectory);
    }
}

/// <summary>Writes docs/bugchecks.md from the diagnostics catalogue.</summary>
internal static class BugChecksPage
{
    private const string TestFile = "../tests/IrpLab.Kernel.Tests/Verifier/VerifierDiagnosticTests.cs";

    public static string Generate()
    {
        var b = new StringBuilder();
        b.Append("""
            # Bug checks and verifier diagnostics

            <!-- Generated from VerifierDiagnostics.All (src/IrpLab.Kernel/Verifier/VerifierDiagnostics.cs) by
                 VerifierCatalogueTests. Do not edit by hand; regenerate with
                 IRPLAB_UPDATE_DOCS=1 dotnet test IrpLab.slnx --filter FullyQualifiedName~VerifierCatalogueTests -->

            Every diagnostic the machine can raise: the stop code (and, for 0xC4 and 0xC9, the subcode in Parameter1),
            what the parameters hold, why it happens, how to fix it, and the test in
            [`VerifierDiagnosticTests`](../tests/IrpLab.Kernel.Tests/Verifier/VerifierDiagnosticTests.cs) that shows a bad
            driver (or application) triggering it next to its corrected twin. See [verifier.md](verifier.md) for what the
            verifier checks and how to read a crash.

            Kinds: **kernel** — raised with or without the verifier; **verifier** — only for a driver the verifier checks
            (`MachineOptions.Verifier`, `MachineOptions.VerifiedDrivers`); **IrpLab** — our own code (0x1A5xxxxx) for a fault
            Windows does not catch, verifier only; **warning** — application misuse, recorded as a `VerifierWarning` trace
            event while the machine goes on (verifier only).

            | Code | Subcode | Name | Kind | Test |
            |---|---|---|---|---|

            """.Replace("\r\n", "\n", StringComparison.Ordinal));
        foreach (VerifierDiagnostic d in VerifierDiagnostics.All)
        {
            b.Append(CultureInfo.InvariantCulture, $"| {Code(d)} | {Subcode(d)} | [{d.Name}](#{Anchor(d)}) | {Kind(d.Kind)} | `{TestName(d)}` |\n");
        }

        foreach (VerifierDiagnostic d in VerifierDiagnostics.All)
        {
            b.Append('\n');
            b.Append(CultureInfo.InvariantCulture, $"## {Title(d)}\n\n");
            b.Append(CultureInfo.InvariantCulture, $"- Kind: {Kind(d.Kind)}\n");
            b.Append(CultureInfo.InvariantCulture, $"- Parameters: {d.Parameters}\n");
            b.Append(CultureInfo.InvariantCulture, $"- Cause: {d.Cause}\n");
            b.Append(CultureInfo.InvariantCulture, $"- Fix: {d.Fix}\n");
            b.Append(CultureInfo.InvariantCulture, $"- Test: [`{TestName(d)}`]({TestFile})\n");
        }

        return b.ToString();
    }

    private static string Code(VerifierDiagnostic d) => d.Kind == DiagnosticKind.Warning ? "—" : Hex(d.Code);

    private static string Subcode(VerifierDiagnostic d) => d.Subcode is uint s ? Hex(s) : "—";

    private static string Hex(uint value) => "0x" + value.ToString(value > 0xFF ? "X" : "X2", CultureInfo.InvariantCulture);

    private static string Title(VerifierDiagnostic d)
        => d.Kind == DiagnosticKind.Warning ? d.Name
            : d.Subcode is uint s ? $"{Hex(d.Code)} / {Hex(s)}: {d.Name}"
            : $"{Hex(d.Code)}: {d.Name}";

    /// <summary>The anchor GitHub gives the section's heading: lower case, punctuation dropped, spaces to hyphens.</summary>
    private static string Anchor(VerifierDiagnostic d)
    {
        var a = new StringBuilder();
        foreach (char c in Title(d).ToLowerInvariant())
        {
            if (char.IsLetterOrDigit(c) || c is '_' or '-')
            {
                a.Append(c);
            }
            else if (c == ' ')
            {
                a.Append('-');
            }
        }

        return a.ToString();
    }

    private static string TestName(VerifierDiagnostic d) => d.Test[(d.Test.LastIndexOf('.') + 1)..];

    private static string Kind(DiagnosticKind kind) => kind switch
    {
        DiagnosticKind.KernelBugCheck => "kernel",
        DiagnosticKind.VerifierBugCheck => "verifier",
        DiagnosticKind.IrpLabBugCheck => "IrpLab",
        DiagnosticKind.Warning => "warning",
        _ => kind.ToString(),
    };
}
