using System.CommandLine;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using static Assistant.Cli.Commands.ApiCalls;

namespace Assistant.Cli.Commands;

/// <summary><c>assistant datasets ...</c>: upload, list, show, examples, split and download through the gateway.</summary>
internal static class DatasetsCommand
{
    public static Command Create()
    {
        var command = new Command("datasets", "Upload, version, inspect and split training data.")
        {
            Upload(), List(), Show(), Examples(), Split(), Download(),
        };
        command.Options.Add(GatewayConnection.Gateway);
        return command;
    }

    private static Command Upload()
    {
        var file = new Argument<FileInfo>("file") { Description = "JSONL (chat, context/response, prompt/completion, Alpaca, text) or .txt/.md/.zip text." };
        var name = new Option<string>("--name") { Description = "Dataset name; a new version is added when it exists.", Required = true };
        var description = new Option<string?>("--description") { Description = "What the data is." };
        var format = new Option<string?>("--format") { Description = "chat, context_response, prompt_completion, alpaca, text (default: detect)." };
        var maxLength = new Option<int?>("--max-length") { Description = "Count examples longer than this many tokens." };
        var rejectOver = new Option<bool>("--reject-over-max-length") { Description = "Refuse the file when an example is longer than --max-length." };
        var rejectDuplicates = new Option<bool>("--reject-duplicates") { Description = "Refuse the file when an example repeats." };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Count tokens with gpt2 (default) or bytes (the starter model)." };
        var chunkChars = new Option<int?>("--chunk-chars") { Description = "Text files: characters per pretraining example (default 2000)." };
        var overlapChars = new Option<int?>("--overlap-chars") { Description = "Text files: characters each example repeats of the one before (default 200)." };
        var command = new Command("upload", "Upload a file as a new dataset version (validated first; problems listed by line).")
        {
            file, name, description, format, maxLength, rejectOver, rejectDuplicates, tokenizer, chunkChars, overlapChars,
        };
        command.SetAction((parse, ct) => GatewayConnection.RunAsync(parse, async (http, output, error) =>
        {
            var path = parse.GetValue(file)!;
            if (!path.Exists)
            {
                await error.WriteLineAsync($"error: {path.FullName} does not exist.");
                return 1;
            }
            var query = new List<string> { $"name={Uri.EscapeDataString(parse.GetValue(name)!)}", $"file_name={Uri.EscapeDataString(path.Name)}" };
            if (parse.GetValue(description) is { } d) { query.Add($"description={Uri.EscapeDataString(d)}"); }
            if (parse.GetValue(format) is { } f) { query.Add($"format={Uri.EscapeDataString(f)}"); }
            if (parse.GetValue(maxLength) is { } m) { query.Add($"max_length={m}"); }
            if (parse.GetValue(rejectOver)) { query.Add("reject_over_max_length=true"); }
            if (parse.GetValue(rejectDuplicates)) { query.Add("reject_duplicates=true"); }
            if (parse.GetValue(tokenizer) is { } t) { query.Add($"tokenizer={Uri.EscapeDataString(t)}"); }
            // Numbers go as given: the API names the field when one is out of range.
            if (parse.GetValue(chunkChars) is { } c) { query.Add($"chunk_chars={c}"); }
            if (parse.GetValue(overlapChars) is { } o) { query.Add($"overlap_chars={o}"); }

            await using var stream = path.OpenRead();
            using var progress = new UploadProgress(stream, error);
            using var content = new StreamContent(progress, 1 << 16);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            content.Headers.ContentLength = path.Length;
            http.Timeout = Timeout.InfiniteTimeSpan; // large files: the upload takes as long as it takes
            using var response = await http.PostAsync($"api/datasets?{string.Join('&', query)}", content, ct);
            progress.Finish();
            if (!response.IsSuccessStatusCode)
            {
                return await ApiErrors.ReportAsync(response, error, ct);
            }
            using var version = (await response.Content.ReadFromJsonAsync<JsonDocument>(ct))!;
            var root = version.RootElement;
            var verb = root.GetProperty("deduplicated").GetBoolean() ? "unchanged (same bytes as the latest version)" : "stored";
            await output.WriteLineAsync($"{root.GetProperty("ref").GetString()} {verb}: {root.GetProperty("examples").GetInt64()} examples, " +
                $"{root.GetProperty("tokens").GetInt64()} tokens, format {root.GetProperty("format").GetString()}, sha256 {root.GetProperty("sha256").GetString()![..12]}");
            return 0;
        }));
        return command;
    }

    private static Command List()
    {
        var command = new Command("list", "List datasets with their latest version.");
        command.SetAction((parse, ct) => GatewayConnection.RunAsync(parse, async (http, output, error) =>
        {
            using var response = await http.GetAsync("api/datasets", ct);
            if (!response.IsSuccessStatusCode)
            {
                return await ApiErrors.ReportAsync(response, error, ct);
            }
            using var list = (await response.Content.ReadFromJsonAsync<JsonDocument>(ct))!;
            await output.WriteLineAsync($"{"NAME",-32} {"LATEST",6} {"EXAMPLES",10} {"FORMAT",-18} DESCRIPTION");
            foreach (var d in list.RootElement.EnumerateArray())
            {
                await output.WriteLineAsync($"{d.GetProperty("name").GetString(),-32} {Text(d, "latest_version"),6} {Text(d, "examples"),10} {Text(d, "format"),-18} {Text(d, "description")}");
            }
            return 0;
        }));
        return command;
    }

    private static Command Show()
    {
        var reference = new Argument<string>("dataset") { Description = "NAME (all versions) or NAME@VERSION / NAME@latest." };
        var command = new Command("show", "Show a dataset's versions, or one version's statistics.") { reference };
        command.SetAction((parse, ct) => GatewayConnection.RunAsync(parse, async (http, output, error) =>
        {
            var text = parse.GetValue(reference)!;
            var path = text.Contains('@') ? VersionPath(text) : $"api/datasets/{Uri.EscapeDataString(text)}";
            using var response = await http.GetAsync(path, ct);
            if (!response.IsSuccessStatusCode)
            {
                return await ApiErrors.ReportAsync(response, error, ct);
            }
            using var body = (await response.Content.ReadFromJsonAsync<JsonDocument>(ct))!;
            var root = body.RootElement;
            if (root.TryGetProperty("versions", out var versions))
            {
                await output.WriteLineAsync($"{root.GetProperty("name").GetString()}: {Text(root, "description")}");
                foreach (var v in versions.EnumerateArray())
                {
                    await output.WriteLineAsync($"  v{v.GetProperty("version").GetInt32(),-4} {v.GetProperty("origin").GetString(),-10} {v.GetProperty("examples").GetInt64(),8} examples  " +
                        $"{v.GetProperty("created_at").GetDateTimeOffset():u}  {Text(v, "message")}");
                }
            }
            else
            {
                await output.WriteLineAsync(JsonSerializer.Serialize(root, Indented));
            }
            return 0;
        }));
        return command;
    }

    private static Command Examples()
    {
        var reference = new Argument<string>("dataset") { Description = "NAME@VERSION or NAME@latest." };
        var offset = new Option<long>("--offset") { Description = "First example to show (0-based).", DefaultValueFactory = _ => 0 };
        var limit = new Option<int>("--limit") { Description = "How many examples (1-500).", DefaultValueFactory = _ => 20 };
        var search = new Option<string?>("--search") { Description = "Only examples containing this text." };
        var command = new Command("examples", "Print a page of a version's examples as JSON lines.") { reference, offset, limit, search };
        command.SetAction((parse, ct) => GatewayConnection.RunAsync(parse, async (http, output, error) =>
        {
            var query = $"offset={parse.GetValue(offset)}&limit={parse.GetValue(limit)}";
            if (parse.GetValue(search) is { Length: > 0 } s) { query += $"&search={Uri.EscapeDataString(s)}"; }
            using var response = await http.GetAsync($"{VersionPath(parse.GetValue(reference)!)}/examples?{query}", ct);
            if (!response.IsSuccessStatusCode)
            {
                return await ApiErrors.ReportAsync(response, error, ct);
            }
            using var page = (await response.Content.ReadFromJsonAsync<JsonDocument>(ct))!;
            foreach (var item in page.RootElement.GetProperty("items").EnumerateArray())
            {
                await output.WriteLineAsync($"#{item.GetProperty("index").GetInt64()} {item.GetProperty("example").GetRawText()}");
            }
            await error.WriteLineAsync($"{page.RootElement.GetProperty("items").GetArrayLength()} of {page.RootElement.GetProperty("total").GetInt64()} matching example(s)");
            return 0;
        }));
        return command;
    }

    private static Command Split()
    {
        var reference = new Argument<string>("dataset") { Description = "NAME@VERSION or NAME@latest." };
        var ratios = new Option<string>("--ratios") { Description = "train,validation,test fractions summing to 1.", DefaultValueFactory = _ => "0.8,0.1,0.1" };
        var seed = new Option<int>("--seed") { Description = "Seed of the deterministic shuffle.", DefaultValueFactory = _ => 42 };
        var command = new Command("split", "Split a version deterministically into train/validation/test.") { reference, ratios, seed };
        command.SetAction((parse, ct) => GatewayConnection.RunAsync(parse, async (http, output, error) =>
        {
            var parts = parse.GetValue(ratios)!.Split(',');
            var values = new double[parts.Length];
            for (var i = 0; i < parts.Length; i++)
            {
                if (!double.TryParse(parts[i], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out values[i]))
                {
                    await error.WriteLineAsync($"error: --ratios '{parse.GetValue(ratios)}' must be three numbers like 0.8,0.1,0.1.");
                    return 1;
                }
            }
            using var response = await http.PostAsJsonAsync($"{VersionPath(parse.GetValue(reference)!)}/splits", new { ratios = values, seed = parse.GetValue(seed) }, ct);
            if (!response.IsSuccessStatusCode)
            {
                return await ApiErrors.ReportAsync(response, error, ct);
            }
            using var split = (await response.Content.ReadFromJsonAsync<JsonDocument>(ct))!;
            var p = split.RootElement.GetProperty("parts");
            await output.WriteLineAsync($"split {split.RootElement.GetProperty("id").GetGuid()}: train {p.GetProperty("train").GetProperty("examples").GetInt64()}, " +
                $"validation {p.GetProperty("validation").GetProperty("examples").GetInt64()}, test {p.GetProperty("test").GetProperty("examples").GetInt64()}");
            return 0;
        }));
        return command;
    }

    private static Command Download()
    {
        var reference = new Argument<string>("dataset") { Description = "NAME@VERSION or NAME@latest." };
        var outFile = new Option<FileInfo?>("--out") { Description = "File to write (default: standard output)." };
        var split = new Option<Guid?>("--split") { Description = "Download one part of this split instead of the whole version." };
        var part = new Option<string>("--part") { Description = "train, validation or test (with --split).", DefaultValueFactory = _ => "train" };
        var command = new Command("download", "Download a version's JSONL bytes.") { reference, outFile, split, part };
        command.SetAction((parse, ct) => GatewayConnection.RunAsync(parse, async (http, output, error) =>
        {
            var path = VersionPath(parse.GetValue(reference)!) + (parse.GetValue(split) is { } id ? $"/splits/{id}/{parse.GetValue(part)}" : "/download");
            http.Timeout = Timeout.InfiniteTimeSpan;
            using var response = await http.GetAsync(path, HttpCompletionOption.ResponseHeadersRead, ct);
            if (!response.IsSuccessStatusCode)
            {
                return await ApiErrors.ReportAsync(response, error, ct);
            }
            await using var body = await response.Content.ReadAsStreamAsync(ct);
            if (parse.GetValue(outFile) is { } file)
            {
                await using var target = file.Create();
                await body.CopyToAsync(target, ct);
                await error.WriteLineAsync($"wrote {file.FullName} ({target.Length:N0} bytes)");
            }
            else
            {
                await using var stdout = Console.OpenStandardOutput();
                await body.CopyToAsync(stdout, ct);
            }
            return 0;
        }));
        return command;
    }

    private static string VersionPath(string reference)
    {
        var at = reference.IndexOf('@');
        if (at <= 0 || at == reference.Length - 1)
        {
            throw new ArgumentValueException($"'{reference}' is not NAME@VERSION (or NAME@latest).");
        }
        return $"api/datasets/{Uri.EscapeDataString(reference[..at])}/versions/{Uri.EscapeDataString(reference[(at + 1)..])}";
    }

    /// <summary>
    /// Reports how much of the file has gone up: a redrawn bar on a terminal, a line every 10% otherwise.
    /// </summary>
    private sealed class UploadProgress(Stream inner, TextWriter error) : Stream
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly bool _terminal = !Console.IsErrorRedirected && ReferenceEquals(error, Console.Error);
        private long _sent;
        private int _lastTenth = -1;
        private TimeSpan _lastDraw;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => inner.Length;
        public override long Position { get => _sent; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override int Read(byte[] buffer, int offset, int count) => Advance(inner.Read(buffer, offset, count));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) =>
            Advance(await inner.ReadAsync(buffer, ct));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
            ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

        public void Finish()
        {
            if (_terminal)
            {
                error.WriteLine();
            }
        }

        private int Advance(int read)
        {
            _sent += read;
            var total = Math.Max(1, inner.Length);
            var fraction = (double)_sent / total;
            var rate = _sent / 1048576.0 / Math.Max(0.001, _clock.Elapsed.TotalSeconds);
            if (_terminal)
            {
                if (_clock.Elapsed - _lastDraw > TimeSpan.FromMilliseconds(200) || _sent == total)
                {
                    _lastDraw = _clock.Elapsed;
                    var filled = (int)(fraction * 30);
                    error.Write($"\rupload [{new string('#', filled)}{new string(' ', 30 - filled)}] {fraction,4:P0} {_sent / 1048576.0:0.0}/{total / 1048576.0:0.0} MiB {rate:0.0} MiB/s ");
                }
            }
            else if ((int)(fraction * 10) is var tenth && tenth > _lastTenth)
            {
                _lastTenth = tenth;
                error.WriteLine($"upload {fraction:P0} ({_sent / 1048576.0:0.0} of {total / 1048576.0:0.0} MiB, {rate:0.0} MiB/s)");
            }
            return read;
        }
    }
}
