using System.Globalization;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text;

namespace IrpLab.Tests;

/// <summary>
/// The checked-in public API listing of each assembly (Api/*.txt): one line per public type and member with its
/// signature, sorted, so every API change shows up as a diff in review.
/// To accept a change, regenerate the listings and commit them:
/// <code>IRPLAB_UPDATE_API=1 dotnet test IrpLab.slnx --filter FullyQualifiedName~ApiListingTests</code>
/// (see docs/testing.md).
/// </summary>
public sealed class ApiListingTests
{
    [Theory]
    [InlineData("IrpLab.Kernel")]
    [InlineData("IrpLab.Win32")]
    public void PublicApi_MatchesTheCheckedInListing(string assemblyName)
    {
        Assembly assembly = assemblyName == "IrpLab.Kernel" ? typeof(Machine).Assembly : typeof(Kernel32).Assembly;
        Assert.Equal(assemblyName, assembly.GetName().Name);
        string actual = ApiListing.Generate(assembly);
        string path = Path.Combine(SourceDirectory(), "Api", assemblyName + ".txt");

        if (Environment.GetEnvironmentVariable("IRPLAB_UPDATE_API") == "1")
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, actual);
            return;
        }

        Assert.True(File.Exists(path), $"{path} is missing. Regenerate it: IRPLAB_UPDATE_API=1 dotnet test IrpLab.slnx --filter FullyQualifiedName~ApiListingTests");
        string expected = File.ReadAllText(path).ReplaceLineEndings("\n");
        if (expected != actual)
        {
            string[] e = expected.Split('\n');
            string[] a = actual.Split('\n');
            var removed = e.Except(a).Take(20).Select(l => "- " + l);
            var added = a.Except(e).Take(20).Select(l => "+ " + l);
            Assert.Fail(
                $"The public API of {assemblyName} differs from {path}. If the change is intended, regenerate the listing " +
                "(IRPLAB_UPDATE_API=1 dotnet test IrpLab.slnx --filter FullyQualifiedName~ApiListingTests) and commit it." +
                Environment.NewLine + string.Join(Environment.NewLine, removed.Concat(added)));
        }
    }

    [Fact]
    public void ApiListing_Generate_IsStableAndCoversMembersOfEveryKind()
    {
        string listing = ApiListing.Generate(typeof(Machine).Assembly);
        Assert.Equal(listing, ApiListing.Generate(typeof(Machine).Assembly));
        string[] lines = listing.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(lines.Order(StringComparer.Ordinal), lines);
        Assert.Contains("IrpLab.Machine: public sealed class Machine : System.IDisposable", lines);
        Assert.Contains("IrpLab.Machine: public void RunKernel(string threadName, System.Action body)", lines);
        Assert.Contains("IrpLab.Wdm: public const byte DISPATCH_LEVEL = 2", lines);
        Assert.Contains("IrpLab.NtStatus: STATUS_PENDING = 0x103", lines);
        Assert.Contains("IrpLab.NtStatus: STATUS_UNSUCCESSFUL = 0xC0000001", lines);
        Assert.Contains("IrpLab.Kernel32: public const uint ERROR_ALREADY_EXISTS = 183", ApiListing.Generate(typeof(Kernel32).Assembly).Split('\n'));
        Assert.Contains("IrpLab.MachineOptions: public bool Deterministic { get; init; }", lines);
        Assert.Contains("IrpLab.Wdm: public static NtStatus KeWaitForSingleObject(DispatcherObject Object, KWaitReason WaitReason, KProcessorMode WaitMode, bool Alertable, long? Timeout)", lines);
        Assert.Contains("IrpLab.Wdm: public static void KeAcquireSpinLock(KSpinLock SpinLock, out byte OldIrql)", lines);
        Assert.Contains("IrpLab.DriverInitialize: public delegate NtStatus DriverInitialize(DriverObject DriverObject, UnicodeString RegistryPath)", lines);
        Assert.DoesNotContain(lines, l => l.Contains("KernelDispatcher", StringComparison.Ordinal));
    }

    /// <summary>
    /// This test project's source directory: where the compiler saw this file, or, when the build mapped source
    /// paths (deterministic CI builds), found by walking up from the output directory to IrpLab.slnx.
    /// </summary>
    private static string SourceDirectory([CallerFilePath] string path = "")
    {
        string? direct = Path.GetDirectoryName(path);
        if (direct is not null && Directory.Exists(direct))
        {
            return direct;
        }

        for (DirectoryInfo? d = new(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "IrpLab.slnx")))
            {
                return Path.Combine(d.FullName, "tests", "IrpLab.Kernel.Tests");
            }
        }

        throw new DirectoryNotFoundException("Cannot find the test project's source directory from " + AppContext.BaseDirectory);
    }
}

/// <summary>Writes the public surface of an assembly as sorted text, one line per type and member.</summary>
internal static class ApiListing
{
    private const BindingFlags Declared = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    public static string Generate(Assembly assembly)
    {
        var lines = new List<string>();
        foreach (Type type in assembly.GetTypes().Where(IsVisible))
        {
            string prefix = TypeKey(type) + ": ";
            lines.Add(prefix + TypeDeclaration(type));
            if (IsDelegate(type))
            {
                continue;
            }

            if (type.IsEnum)
            {
                foreach (FieldInfo f in type.GetFields(BindingFlags.Public | BindingFlags.Static))
                {
                    lines.Add(prefix + f.Name + " = " + Literal(f.GetRawConstantValue()));
                }

                continue;
            }

            var nullability = new NullabilityInfoContext();
            foreach (MemberInfo m in type.GetMembers(Declared))
            {
                string? line = Member(m, nullability);
                if (line is not null)
                {
                    lines.Add(prefix + line);
                }
            }
        }

        lines.Sort(StringComparer.Ordinal);
        return string.Join('\n', lines) + "\n";
    }

    private static bool IsVisible(Type type)
        => type.IsPublic || (type.IsNestedPublic && IsVisible(type.DeclaringType!)) || (type.IsNestedFamily && IsVisible(type.DeclaringType!) && !type.DeclaringType!.IsSealed);

    private static bool IsDelegate(Type type) => type.IsSubclassOf(typeof(Delegate));

    private static string TypeKey(Type type) => type.IsNested ? TypeKey(type.DeclaringType!) + "+" + type.Name : type.FullName!;

    private static string TypeDeclaration(Type type)
    {
        var nullability = new NullabilityInfoContext();
        if (IsDelegate(type))
        {
            MethodInfo invoke = type.GetMethod("Invoke")!;
            return "public delegate " + Name(invoke.ReturnParameter, nullability) + " " + ShortName(type) + "(" + Parameters(invoke, nullability) + ")";
        }

        if (type.IsEnum)
        {
            return "public enum " + ShortName(type) + " : " + Name(Enum.GetUnderlyingType(type));
        }

        string kind = type.IsInterface ? "interface"
            : type.IsValueType ? (IsRecord(type) ? "record struct" : "struct")
            : IsRecord(type) ? "record" : "class";
        string modifiers = type.IsValueType || type.IsInterface ? (IsReadOnly(type) ? "readonly " : string.Empty)
            : type.IsAbstract && type.IsSealed ? "static "
            : type.IsAbstract ? "abstract "
            : type.IsSealed ? "sealed " : string.Empty;
        var bases = new List<string>();
        if (type.BaseType is Type b && b != typeof(object) && b != typeof(ValueType))
        {
            bases.Add(Name(b));
        }

        bases.AddRange(type.GetInterfaces()
            .Where(i => i.IsPublic || i.IsNestedPublic)
            .Where(i => type.BaseType is null || !i.IsAssignableFrom(type.BaseType))
            .Select(Name)
            .Order(StringComparer.Ordinal));
        string generic = type.IsGenericTypeDefinition ? "<" + string.Join(", ", type.GetGenericArguments().Select(a => a.Name)) + ">" : string.Empty;
        return "public " + modifiers + kind + " " + ShortName(type) + generic + (bases.Count > 0 ? " : " + string.Join(", ", bases) : string.Empty);
    }

    private static string? Member(MemberInfo m, NullabilityInfoContext nullability)
    {
        if (m.Name.StartsWith('<'))
        {
            return null;
        }

        switch (m)
        {
            case ConstructorInfo c when Visible(c):
                if (c.IsStatic)
                {
                    return null;
                }

                return Access(c) + ShortName(c.DeclaringType!) + "(" + Parameters(c, nullability) + ")";
            case MethodInfo method when Visible(method) && (!method.IsSpecialName || method.Name.StartsWith("op_", StringComparison.Ordinal)):
                return Access(method) + MethodModifiers(method) + Name(method.ReturnParameter, nullability) + " " + method.Name
                    + GenericArguments(method) + "(" + Parameters(method, nullability) + ")" + Constraints(method);
            case PropertyInfo p:
                MethodInfo? get = p.GetMethod is { } g && Visible(g) ? g : null;
                MethodInfo? set = p.SetMethod is { } s && Visible(s) ? s : null;
                MethodInfo? any = get ?? set;
                if (any is null)
                {
                    return null;
                }

                string accessors = (get is null ? string.Empty : AccessorAccess(get, any) + "get; ")
                    + (set is null ? string.Empty : AccessorAccess(set, any) + (IsInit(set) ? "init; " : "set; "));
                ParameterInfo[] index = p.GetIndexParameters();
                string name = index.Length == 0 ? p.Name : "this[" + string.Join(", ", index.Select(ip => Name(ip, nullability) + " " + ip.Name)) + "]";
                return Access(any) + MethodModifiers(any) + Name(p, nullability) + " " + name + " { " + accessors + "}";
            case FieldInfo f when f.IsPublic || f.IsFamily || f.IsFamilyOrAssembly:
                string access = f.IsPublic ? "public " : "protected ";
                if (f.IsLiteral)
                {
                    return access + "const " + Name(f, nullability) + " " + f.Name + " = " + Literal(f.GetRawConstantValue());
                }

                return access + (f.IsStatic ? "static " : string.Empty) + (f.IsInitOnly ? "readonly " : string.Empty) + Name(f, nullability) + " " + f.Name;
            case EventInfo e when e.AddMethod is { } add && Visible(add):
                return Access(add) + "event " + Name(e.EventHandlerType!) + " " + e.Name;
            default:
                return null;
        }
    }

    private static bool Visible(MethodBase m) => m.IsPublic || m.IsFamily || m.IsFamilyOrAssembly;

    private static string Access(MethodBase m) => m.IsPublic ? "public " : "protected ";

    private static string AccessorAccess(MethodBase accessor, MethodBase property) => Access(accessor) == Access(property) ? string.Empty : Access(accessor);

    private static string MethodModifiers(MethodInfo m)
    {
        if (m.IsStatic)
        {
            return "static ";
        }

        if (m.DeclaringType!.IsInterface)
        {
            return string.Empty;
        }

        if (m.IsAbstract)
        {
            return "abstract ";
        }

        if (m.GetBaseDefinition().DeclaringType != m.DeclaringType)
        {
            return m.IsFinal ? "sealed override " : "override ";
        }

        return m.IsVirtual && !m.IsFinal ? "virtual " : string.Empty;
    }

    private static bool IsInit(MethodInfo setter)
        => setter.ReturnParameter.GetRequiredCustomModifiers().Any(t => t.FullName == "System.Runtime.CompilerServices.IsExternalInit");

    private static bool IsRecord(Type type)
        => type.GetMethod("<Clone>$") is not null
            || (type.IsValueType && type.GetMethod("PrintMembers", BindingFlags.NonPublic | BindingFlags.Instance) is not null);

    private static bool IsReadOnly(Type type) => type.IsDefined(typeof(IsReadOnlyAttribute));

    private static string Parameters(MethodBase m, NullabilityInfoContext nullability)
        => string.Join(", ", m.GetParameters().Select(p => Parameter(p, m, nullability)));

    private static string Parameter(ParameterInfo p, MethodBase m, NullabilityInfoContext nullability)
    {
        var b = new StringBuilder();
        if (p.Position == 0 && m.IsDefined(typeof(ExtensionAttribute)))
        {
            b.Append("this ");
        }

        if (p.IsDefined(typeof(ParamArrayAttribute)) || p.IsDefined(typeof(ParamCollectionAttribute)))
        {
            b.Append("params ");
        }

        if (p.ParameterType.IsByRef)
        {
            b.Append(p.IsOut ? "out " : p.IsIn ? "in " : "ref ");
        }

        b.Append(Name(p, nullability)).Append(' ').Append(p.Name);
        if (p.HasDefaultValue)
        {
            b.Append(" = ").Append(Literal(p.RawDefaultValue));
        }

        return b.ToString();
    }

    private static string GenericArguments(MethodInfo m)
        => m.IsGenericMethodDefinition ? "<" + string.Join(", ", m.GetGenericArguments().Select(a => a.Name)) + ">" : string.Empty;

    private static string Constraints(MethodInfo m)
    {
        if (!m.IsGenericMethodDefinition)
        {
            return string.Empty;
        }

        var b = new StringBuilder();
        foreach (Type a in m.GetGenericArguments())
        {
            var parts = new List<string>();
            GenericParameterAttributes attrs = a.GenericParameterAttributes;
            if (attrs.HasFlag(GenericParameterAttributes.ReferenceTypeConstraint))
            {
                parts.Add("class");
            }

            if (attrs.HasFlag(GenericParameterAttributes.NotNullableValueTypeConstraint))
            {
                parts.Add("struct");
            }

            parts.AddRange(a.GetGenericParameterConstraints().Where(c => c != typeof(ValueType)).Select(Name));
            if (attrs.HasFlag(GenericParameterAttributes.DefaultConstructorConstraint) && !attrs.HasFlag(GenericParameterAttributes.NotNullableValueTypeConstraint))
            {
                parts.Add("new()");
            }

            if (parts.Count > 0)
            {
                b.Append(" where ").Append(a.Name).Append(" : ").Append(string.Join(", ", parts));
            }
        }

        return b.ToString();
    }

    /// <summary>Constants as C# literals; integers from 256 up (and negative ones) in hex, as the Windows headers write them.</summary>
    private static string Literal(object? value) => value switch
    {
        null => "null",
        sbyte or short or int or long when Convert.ToInt64(value, CultureInfo.InvariantCulture) is long v && (v < 0 || v >= 256)
            => "0x" + (value switch { sbyte b => ((byte)b).ToString("X", CultureInfo.InvariantCulture), short h => ((ushort)h).ToString("X", CultureInfo.InvariantCulture), int i => ((uint)i).ToString("X", CultureInfo.InvariantCulture), _ => ((ulong)v).ToString("X", CultureInfo.InvariantCulture) }),
        byte or ushort or uint or ulong when Convert.ToUInt64(value, CultureInfo.InvariantCulture) is ulong u && u >= 256
            => "0x" + u.ToString("X", CultureInfo.InvariantCulture),
        string s => "\"" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"",
        char c => "'" + c + "'",
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? string.Empty,
    };

    private static string Name(ParameterInfo p, NullabilityInfoContext context) => Name(p.ParameterType, context.Create(p));

    private static string Name(PropertyInfo p, NullabilityInfoContext context) => Name(p.PropertyType, context.Create(p));

    private static string Name(FieldInfo f, NullabilityInfoContext context) => Name(f.FieldType, context.Create(f));

    private static string Name(Type type) => Name(type, null);

    /// <summary>A C#-like type name: keywords for primitives, namespaces dropped, nullable annotations kept.</summary>
    private static string Name(Type type, NullabilityInfo? nullability)
    {
        if (type.IsByRef)
        {
            return Name(type.GetElementType()!, nullability);
        }

        if (type.IsArray)
        {
            string element = Name(type.GetElementType()!, nullability?.ElementType);
            return element + "[" + new string(',', type.GetArrayRank() - 1) + "]" + Question(type, nullability);
        }

        if (type.IsPointer)
        {
            return Name(type.GetElementType()!) + "*";
        }

        if (Nullable.GetUnderlyingType(type) is Type underlying)
        {
            return Name(underlying) + "?";
        }

        string? keyword = Keyword(type);
        if (keyword is not null)
        {
            return keyword + Question(type, nullability);
        }

        if (type.IsGenericParameter)
        {
            return type.Name + Question(type, nullability);
        }

        string name = ShortName(type.IsGenericType ? type.GetGenericTypeDefinition() : type);
        if (type.IsGenericType)
        {
            Type[] args = type.GetGenericArguments();
            int skip = type.IsNested ? type.DeclaringType!.GetGenericArguments().Length : 0;
            NullabilityInfo[]? argInfo = nullability?.GenericTypeArguments;
            var parts = new List<string>();
            for (int i = skip; i < args.Length; i++)
            {
                parts.Add(Name(args[i], argInfo is not null && i < argInfo.Length ? argInfo[i] : null));
            }

            if (name.StartsWith("ValueTuple", StringComparison.Ordinal))
            {
                return "(" + string.Join(", ", parts) + ")" + Question(type, nullability);
            }

            name = name + "<" + string.Join(", ", parts) + ">";
        }

        return name + Question(type, nullability);
    }

    private static string Question(Type type, NullabilityInfo? nullability)
        => !type.IsValueType && nullability is { ReadState: NullabilityState.Nullable } ? "?" : string.Empty;

    private static string ShortName(Type type)
    {
        string name = type.Name;
        int tick = name.IndexOf('`', StringComparison.Ordinal);
        if (tick >= 0)
        {
            name = name[..tick];
        }

        string prefix = type.IsNested && !type.IsGenericParameter ? ShortName(type.DeclaringType!) + "." : string.Empty;
        string ns = type.Namespace is { } n && !n.StartsWith("IrpLab", StringComparison.Ordinal) && !type.IsNested ? n + "." : string.Empty;
        return ns + prefix + name;
    }

    private static string? Keyword(Type type) => Type.GetTypeCode(type) switch
    {
        _ when type == typeof(void) => "void",
        _ when type == typeof(object) => "object",
        _ when type == typeof(nint) => "nint",
        _ when type == typeof(nuint) => "nuint",
        _ when type.IsEnum => null,
        TypeCode.Boolean => "bool",
        TypeCode.Byte => "byte",
        TypeCode.SByte => "sbyte",
        TypeCode.Char => "char",
        TypeCode.Int16 => "short",
        TypeCode.UInt16 => "ushort",
        TypeCode.Int32 => "int",
        TypeCode.UInt32 => "uint",
        TypeCode.Int64 => "long",
        TypeCode.UInt64 => "ulong",
        TypeCode.Single => "float",
        TypeCode.Double => "double",
        TypeCode.Decimal => "decimal",
        TypeCode.String => "string",
        _ => null,
    };
}
