using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using static Assistant.Cli.Commands.ApiCalls;

namespace Assistant.Cli.Commands;

/// <summary>
/// <c>assistant jobs follow</c>: reads the job's server-sent events and shows a progress bar with loss and
/// ETA (one plain line per update when the output is not a terminal), eval results and events as they come.
/// If the connection drops it reconnects; the stream's first event is always the current job, so nothing is missed.
/// </summary>
internal static class JobFollower
{
    public const int Failed = 2, CancelledJob = 3;

    public static async Task<int> FollowAsync(HttpClient http, string jobId, TextWriter output, TextWriter error, CancellationToken ct)
    {
        try
        {
            return await FollowUntilEndAsync(http, jobId, output, error, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Ctrl+C stops watching, not the job: say how to pick it up again.
            await error.WriteLineAsync($"Stopped following {jobId}; the job goes on. Follow it again with: assistant jobs follow {jobId}");
            return 130;
        }
    }

    private static async Task<int> FollowUntilEndAsync(HttpClient http, string jobId, TextWriter output, TextWriter error, CancellationToken ct)
    {
        // HttpClient.Timeout only covers the response headers here (ResponseHeadersRead): the stream itself lasts as long as the job.
        var bar = ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected;
        var view = new ProgressView(output, bar);
        for (var attempt = 0; ; attempt++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"api/jobs/{Uri.EscapeDataString(jobId)}/stream");
            request.Headers.Accept.ParseAdd("text/event-stream");
            HttpResponseMessage response;
            try
            {
                response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            }
            catch (HttpRequestException) when (attempt < 5)
            {
                await Task.Delay(TimeSpan.FromSeconds(1 << attempt), ct);
                continue;
            }
            using (response)
            {
                if (!response.IsSuccessStatusCode) return await ApiErrors.ReportAsync(response, error, ct);
                await using var stream = await response.Content.ReadAsStreamAsync(ct);
                using var reader = new StreamReader(stream, Encoding.UTF8);
                string? type = null;
                var data = new StringBuilder();
                try
                {
                    while (await reader.ReadLineAsync(ct) is { } line)
                    {
                        if (line.StartsWith("event:", StringComparison.Ordinal)) type = line[6..].Trim();
                        else if (line.StartsWith("data:", StringComparison.Ordinal)) data.Append(line[5..].TrimStart());
                        else if (line.Length == 0 && data.Length > 0)
                        {
                            using var json = JsonDocument.Parse(data.ToString());
                            if (view.Show(type ?? "message", Unwrap(json.RootElement)) is { } finalStatus)
                            {
                                view.EndLine();
                                return finalStatus switch { "succeeded" => 0, "cancelled" => CancelledJob, _ => Failed };
                            }
                            (type, data) = (null, data.Clear());
                        }
                    }
                }
                catch (Exception e) when (e is IOException or HttpRequestException && attempt < 5)
                {
                    // The connection dropped mid-stream: reconnect; the first event is the job's current state again.
                }
            }
        }
    }

    /// <summary>Live updates arrive as {type, job_id, data, at}; the job snapshot arrives bare.</summary>
    private static JsonElement Unwrap(JsonElement root) =>
        root.ValueKind == JsonValueKind.Object && root.TryGetProperty("data", out var data) && root.TryGetProperty("job_id", out _) ? data.Clone() : root.Clone();

    private sealed class ProgressView(TextWriter output, bool bar)
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private (int Step, TimeSpan At)? _first;
        private int _step, _total;
        private double? _loss;
        private bool _open;

        /// <summary>Shows one update; returns the final status when the job has ended.</summary>
        public string? Show(string type, JsonElement data)
        {
            var status = Text(data, "status");
            if (type == "status" || status.Length > 0)
            {
                if (data.TryGetProperty("step", out _)) Progress(data);
                if (status is "succeeded" or "failed" or "cancelled")
                {
                    EndLine();
                    var error = data.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.Object ? $": {Text(e, "code")}: {Text(e, "message")}" : "";
                    var model = data.TryGetProperty("result_model", out var m) && m.ValueKind == JsonValueKind.Object ? $"; model {Text(m, "name")}@{Text(m, "version")}" : "";
                    output.WriteLine($"{status}{error}{model}");
                    return status;
                }
                if (status.Length > 0 && type == "status")
                {
                    EndLine();
                    output.WriteLine($"status: {status}");
                }
                return null;
            }
            if (type == "metrics")
            {
                Progress(data);
                return null;
            }
            if (type == "event" && Text(data, "message") is { Length: > 0 } message && Text(data, "type") != "metrics")
            {
                EndLine();
                output.WriteLine($"{Text(data, "level")} {Text(data, "type")}: {message}");
            }
            return null;
        }

        private void Progress(JsonElement data)
        {
            if (Number(data, "step") is not double step) return;
            _step = (int)step;
            if (Number(data, "total_steps") is double total) _total = (int)total;
            if (Number(data, "train_loss") is double current) _loss = current;
            else if (data.TryGetProperty("metrics", out var m) && Number(m, "train_loss") is double latest) _loss = latest;
            _first ??= (_step, _clock.Elapsed);
            var eta = "";
            if (_total > 0 && _step > _first.Value.Step)
            {
                var perStep = (_clock.Elapsed - _first.Value.At) / (_step - _first.Value.Step);
                eta = $" | ETA {perStep * (_total - _step):hh\\:mm\\:ss}";
            }
            var loss = _loss is double l ? Invariant($" | loss {l:F4}") : "";
            if (bar && _total > 0)
            {
                const int width = 30;
                var done = Math.Clamp(width * _step / _total, 0, width);
                output.Write($"\r[{new string('#', done)}{new string('.', width - done)}] {_step}/{_total}{loss}{eta}  ");
                _open = true;
            }
            else
            {
                output.WriteLine($"step {_step}/{(_total > 0 ? _total : '?')}{loss}{eta}");
            }
        }

        public void EndLine()
        {
            if (!_open) return;
            output.WriteLine();
            _open = false;
        }

        private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
    }
}
