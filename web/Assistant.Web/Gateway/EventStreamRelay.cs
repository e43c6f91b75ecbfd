using Microsoft.AspNetCore.Http.Features;

namespace Assistant.Web.Gateway;

/// <summary>
/// Relays a server-sent-events response of the gateway to the browser as it comes. The browser cannot put a key
/// header on an EventSource, and scripts never see the key (it lives in the HTTP-only session cookie), so the web
/// app opens the gateway's stream with the session's key and copies its bytes through, flushing each chunk. A
/// refused request is answered with the gateway's status and problem details instead.
/// </summary>
public sealed class EventStreamRelay(IHttpClientFactory clients, ILogger<EventStreamRelay> logger)
{
    public async Task RelayAsync(HttpRequestMessage request, HttpContext context)
    {
        var ct = context.RequestAborted;
        request.Headers.Accept.ParseAdd("text/event-stream");
        var http = clients.CreateClient(GatewayClients.Streams);
        HttpResponseMessage upstream;
        try
        {
            upstream = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        }
        catch (HttpRequestException ex)
        {
            await WriteProblemAsync(context, GatewayProblem.Unreachable(ex));
            return;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return; // the browser left before the gateway answered
        }
        using (upstream)
        {
            if (!upstream.IsSuccessStatusCode || upstream.Content.Headers.ContentType?.MediaType != "text/event-stream")
            {
                await WriteProblemAsync(context, upstream.IsSuccessStatusCode
                    ? new GatewayProblem(StatusCodes.Status502BadGateway, "Not a stream", "The gateway did not answer with an event stream.")
                    : await GatewayProblem.ReadAsync(upstream, ct));
                return;
            }
            var response = context.Response;
            response.ContentType = "text/event-stream";
            response.Headers.CacheControl = "no-cache";
            response.Headers["X-Accel-Buffering"] = "no";
            context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
            await response.Body.FlushAsync(ct);
            try
            {
                await using var body = await upstream.Content.ReadAsStreamAsync(ct);
                var buffer = new byte[16 * 1024];
                int read;
                while ((read = await body.ReadAsync(buffer, ct)) > 0)
                {
                    await response.Body.WriteAsync(buffer.AsMemory(0, read), ct);
                    await response.Body.FlushAsync(ct);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                // The browser went away; the upstream stream is closed with it.
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException)
            {
                // The gateway's stream broke: end ours; EventSource reconnects and gets the current state first.
                logger.LogInformation(ex, "Relayed stream {Path} ended early", request.RequestUri);
            }
        }
    }

    private static async Task WriteProblemAsync(HttpContext context, GatewayProblem problem)
    {
        context.Response.StatusCode = problem.Status;
        await context.Response.WriteAsJsonAsync(new { title = problem.Title, detail = problem.Detail, status = problem.Status, param = problem.Param },
            (System.Text.Json.JsonSerializerOptions?)null, "application/problem+json", context.RequestAborted);
    }
}
