using Npgsql;
using NpgsqlTypes;

namespace Assistant.Platform.Jobs;

/// <summary>One value of one metric at one step, waiting to be written.</summary>
public readonly record struct MetricPoint(string Key, int Step, double Value, DateTimeOffset RecordedAt);

/// <summary>
/// Writes a job's step metrics to <c>job_metrics</c> in batches: one binary COPY per flush, never an INSERT
/// per point. The COPY goes into a temporary table and is merged with one upsert, so a point written twice
/// (a worker that lost its lease still flushing while the new owner resumes) replaces, never fails the batch.
/// </summary>
public sealed class JobMetricsWriter(string connectionString, string jobId) : IAsyncDisposable
{
    private readonly List<MetricPoint> _pending = [];
    private NpgsqlConnection? _connection;

    public int Pending => _pending.Count;

    public void Add(string key, int step, double value, DateTimeOffset at)
    {
        // Postgres double precision holds NaN and infinities, but a chart cannot: a diverged value is in the events.
        if (double.IsFinite(value)) _pending.Add(new MetricPoint(key, step, value, at));
    }

    public async Task FlushAsync(CancellationToken ct)
    {
        if (_pending.Count == 0) return;
        var connection = await OpenAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await using (var import = await connection.BeginBinaryImportAsync(
                         "COPY incoming_job_metrics (job_id, key, step, value, recorded_at) FROM STDIN (FORMAT BINARY)", ct))
        {
            foreach (var point in _pending)
            {
                await import.StartRowAsync(ct);
                await import.WriteAsync(jobId, NpgsqlDbType.Varchar, ct);
                await import.WriteAsync(point.Key, NpgsqlDbType.Varchar, ct);
                await import.WriteAsync(point.Step, NpgsqlDbType.Integer, ct);
                await import.WriteAsync(point.Value, NpgsqlDbType.Double, ct);
                await import.WriteAsync(point.RecordedAt, NpgsqlDbType.TimestampTz, ct);
            }
            await import.CompleteAsync(ct);
        }
        await using (var merge = new NpgsqlCommand(
                         """
                         INSERT INTO job_metrics (job_id, key, step, value, recorded_at)
                         SELECT DISTINCT ON (job_id, key, step) job_id, key, step, value, recorded_at FROM incoming_job_metrics
                         ORDER BY job_id, key, step, recorded_at DESC
                         ON CONFLICT (job_id, key, step) DO UPDATE SET value = excluded.value, recorded_at = excluded.recorded_at
                         """, connection, transaction))
        {
            await merge.ExecuteNonQueryAsync(ct);
        }
        await transaction.CommitAsync(ct);
        _pending.Clear();
    }

    /// <summary>One connection for the job's life: the temporary table lives in its session (emptied at each commit).</summary>
    private async Task<NpgsqlConnection> OpenAsync(CancellationToken ct)
    {
        if (_connection is { State: System.Data.ConnectionState.Open }) return _connection;
        if (_connection is not null) await _connection.DisposeAsync();
        _connection = new NpgsqlConnection(connectionString);
        await _connection.OpenAsync(ct);
        await using var create = new NpgsqlCommand(
            "CREATE TEMP TABLE IF NOT EXISTS incoming_job_metrics (LIKE job_metrics) ON COMMIT DELETE ROWS", _connection);
        await create.ExecuteNonQueryAsync(ct);
        return _connection;
    }

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null) await _connection.DisposeAsync();
    }
}
