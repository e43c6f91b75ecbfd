using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using static Assistant.Cli.Commands.ApiCalls;

namespace Assistant.Cli.Commands;

/// <summary><c>assistant workers</c>: the trainer workers, their state, job and resource use.</summary>
internal static class WorkersCommand
{
    public static Command Create()
    {
        var command = new Command("workers", "List trainer workers: state, current job, CPU, memory and GPU use.");
        command.Options.Add(GatewayConnection.Gateway);
        command.SetAction((parse, ct) => GatewayConnection.RunAsync(parse, async (http, output, error) =>
        {
            var (list, code) = await GetAsync(http, "api/workers", error, ct);
            if (list is null) return code;
            using (list)
            {
                var items = list.RootElement.ValueKind == JsonValueKind.Array ? list.RootElement : list.RootElement.GetProperty("data");
                await output.WriteLineAsync($"{"WORKER",-28} {"STATE",-8} {"JOB",-30} {"CPU%",6} {"RSS MiB",8} {"HOST MEM",15} {"GPU",12} LAST HEARTBEAT");
                foreach (var w in items.EnumerateArray())
                {
                    var host = Number(w, "host_memory_total_bytes") is double total && total > 0
                        ? $"{Mib(Number(w, "host_memory_used_bytes") ?? 0)}/{Mib(total)}" : "-";
                    var gpu = Number(w, "gpu_utilization_percent") is double util ? $"{util:F0}% {Mib(Number(w, "gpu_memory_used_bytes") ?? 0)}M" : "-";
                    await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                        $"{Text(w, "id"),-28} {Text(w, "state"),-8} {Text(w, "current_job_id"),-30} {Number(w, "cpu_percent") ?? 0,6:F1} {Mib(Number(w, "rss_bytes") ?? 0),8} {host,15} {gpu,12} {Text(w, "last_heartbeat_at")}"));
                }
            }
            return 0;
        }));
        return command;
    }

    private static string Mib(double bytes) => (bytes / (1024 * 1024)).ToString("F0", CultureInfo.InvariantCulture);
}
