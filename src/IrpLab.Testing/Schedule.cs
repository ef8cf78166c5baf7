using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using IrpLab.Scheduling;

namespace IrpLab.Testing;

/// <summary>
/// Everything needed to replay one run exactly: the machine configuration, the seed, and every decision the
/// strategy took (thread choices and data choices, in order), with the failure and the trace it produced.
/// Saved as JSON (see docs/exploration.md for the format).
/// </summary>
public sealed record Schedule
{
    /// <summary>The format version written by this code; readers reject newer versions.</summary>
    public const int CurrentFormatVersion = 1;

    private const string FormatName = "irplab-schedule";

    public int FormatVersion { get; init; } = CurrentFormatVersion;

    /// <summary>The scenario (a sample name, or the test's name).</summary>
    public string Scenario { get; init; } = string.Empty;

    /// <summary>The strategy and its parameters for this run, e.g. <c>pct(changes=2,k=31)</c>.</summary>
    public string Strategy { get; init; } = string.Empty;

    /// <summary>The exploration's seed.</summary>
    public ulong ExplorationSeed { get; init; }

    /// <summary>The iteration (from 0) that produced the schedule.</summary>
    public int Iteration { get; init; }

    /// <summary>The run's seed (the machine seed and the strategy's seed for this iteration).</summary>
    public ulong Seed { get; init; }

    public int Processors { get; init; } = 2;

    public bool Verifier { get; init; } = true;

    public bool ExploreTimeouts { get; init; }

    public long MaxSteps { get; init; } = long.MaxValue;

    public TraceLevel TraceLevel { get; init; } = TraceLevel.Normal;

    /// <summary>Every decision of the run, in order.</summary>
    public IReadOnlyList<ScheduleDecision> Decisions { get; init; } = [];

    /// <summary>Decisions other than "keep running the current thread" (or integer choices other than 0).</summary>
    public int Deviations { get; init; }

    /// <summary>How the run failed, or null if it passed.</summary>
    public RunFailure? Failure { get; init; }

    /// <summary>The run's trace, one event per line (<see cref="TraceEvent.ToString"/>).</summary>
    public IReadOnlyList<string> Trace { get; init; } = [];

    /// <summary>The machine options that replay this schedule with <paramref name="strategy"/>.</summary>
    public MachineOptions ToMachineOptions(ISchedulingStrategy strategy, bool captureTrace) => new()
    {
        Deterministic = true,
        Seed = Seed,
        Processors = Processors,
        Verifier = Verifier,
        ExploreTimeouts = ExploreTimeouts,
        MaxSteps = MaxSteps,
        Strategy = strategy,
        CaptureTrace = captureTrace,
        TraceLevel = TraceLevel,
    };

    /// <summary>A file name for this schedule: scenario, seed and iteration.</summary>
    public string SuggestedFileName()
    {
        var b = new StringBuilder();
        foreach (char c in Scenario.Length == 0 ? "scenario" : Scenario)
        {
            b.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_');
        }

        return b.Append(CultureInfo.InvariantCulture, $"-seed{ExplorationSeed}-it{Iteration}.schedule.json").ToString();
    }

    public void Save(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null)
        {
            Directory.CreateDirectory(dir);
        }

        File.WriteAllText(path, ToJson());
    }

    public static Schedule Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return FromJson(File.ReadAllText(path));
    }

    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions
        {
            Indented = true,

            // Readable files: quotes and '<' '>' stay as they are (the file is never embedded in HTML).
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        }))
        {
            w.WriteStartObject();
            w.WriteString("format", FormatName);
            w.WriteNumber("version", FormatVersion);
            w.WriteString("scenario", Scenario);
            w.WriteString("strategy", Strategy);
            w.WriteNumber("explorationSeed", ExplorationSeed);
            w.WriteNumber("iteration", Iteration);
            w.WriteNumber("seed", Seed);
            w.WriteNumber("processors", Processors);
            w.WriteBoolean("verifier", Verifier);
            w.WriteBoolean("exploreTimeouts", ExploreTimeouts);
            w.WriteNumber("maxSteps", MaxSteps);
            w.WriteString("traceLevel", TraceLevel == TraceLevel.Verbose ? "verbose" : "normal");
            if (Failure is RunFailure f)
            {
                w.WriteStartObject("failure");
                w.WriteString("kind", f.Kind.ToString());
                w.WriteString("summary", f.Summary);
                w.WriteString("signature", f.Signature);
                w.WriteString("exactSignature", f.ExactSignature);
                w.WriteString("description", f.Description);
                w.WriteEndObject();
            }
            else
            {
                w.WriteNull("failure");
            }

            w.WriteNumber("decisionCount", Decisions.Count);
            w.WriteNumber("deviations", Deviations);
            w.WritePropertyName("decisions");
            w.WriteRawValue(EncodeDecisions(Decisions));
            w.WriteStartArray("trace");
            foreach (string line in Trace)
            {
                w.WriteStringValue(line);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    public static Schedule FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        using JsonDocument doc = JsonDocument.Parse(json);
        JsonElement root = doc.RootElement;
        if (!root.TryGetProperty("format", out JsonElement format) || format.GetString() != FormatName)
        {
            throw new FormatException("Not an IrpLab schedule file (no \"format\": \"" + FormatName + "\").");
        }

        int version = root.GetProperty("version").GetInt32();
        if (version > CurrentFormatVersion)
        {
            throw new FormatException(string.Create(CultureInfo.InvariantCulture,
                $"Schedule format version {version} is newer than this build reads ({CurrentFormatVersion})."));
        }

        RunFailure? failure = null;
        if (root.TryGetProperty("failure", out JsonElement f) && f.ValueKind == JsonValueKind.Object)
        {
            failure = RunFailure.FromFile(
                Enum.Parse<FailureKind>(f.GetProperty("kind").GetString()!),
                f.GetProperty("summary").GetString()!,
                f.GetProperty("description").GetString()!,
                f.GetProperty("signature").GetString()!,
                f.GetProperty("exactSignature").GetString()!);
        }

        var decisions = new List<ScheduleDecision>();
        foreach (JsonElement d in root.GetProperty("decisions").EnumerateArray())
        {
            if (d.GetArrayLength() != 3)
            {
                throw new FormatException("A decision is [kind, value, options] with kind 0 (thread) or 1 (integer).");
            }

            decisions.Add(new ScheduleDecision(d[0].GetInt32() == 0, d[1].GetInt32(), d[2].GetInt32()));
        }

        var trace = new List<string>();
        if (root.TryGetProperty("trace", out JsonElement t))
        {
            foreach (JsonElement line in t.EnumerateArray())
            {
                trace.Add(line.GetString() ?? string.Empty);
            }
        }

        return new Schedule
        {
            FormatVersion = version,
            Scenario = root.GetProperty("scenario").GetString() ?? string.Empty,
            Strategy = root.GetProperty("strategy").GetString() ?? string.Empty,
            ExplorationSeed = root.GetProperty("explorationSeed").GetUInt64(),
            Iteration = root.GetProperty("iteration").GetInt32(),
            Seed = root.GetProperty("seed").GetUInt64(),
            Processors = root.GetProperty("processors").GetInt32(),
            Verifier = root.GetProperty("verifier").GetBoolean(),
            ExploreTimeouts = root.GetProperty("exploreTimeouts").GetBoolean(),
            MaxSteps = root.GetProperty("maxSteps").GetInt64(),
            TraceLevel = root.GetProperty("traceLevel").GetString() == "verbose" ? TraceLevel.Verbose : TraceLevel.Normal,
            Failure = failure,
            Decisions = decisions,
            Deviations = root.TryGetProperty("deviations", out JsonElement dev) ? dev.GetInt32() : 0,
            Trace = trace,
        };
    }

    /// <summary>The decisions as one JSON array of [kind, value, options] triples, sixteen to a line.</summary>
    private static string EncodeDecisions(IReadOnlyList<ScheduleDecision> decisions)
    {
        var b = new StringBuilder("[");
        for (int i = 0; i < decisions.Count; i++)
        {
            ScheduleDecision d = decisions[i];
            if (i > 0)
            {
                b.Append(',');
            }

            if (i % 16 == 0)
            {
                b.Append("\n    ");
            }

            b.Append(CultureInfo.InvariantCulture, $"[{(d.IsThreadChoice ? 0 : 1)},{d.Value},{d.Options}]");
        }

        return b.Append(decisions.Count > 0 ? "\n  ]" : "]").ToString();
    }
}
