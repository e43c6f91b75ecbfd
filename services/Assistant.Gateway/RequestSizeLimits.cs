using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy.Forwarder;

namespace Assistant.Gateway;

/// <summary>
/// Bodies are capped at the gateway except dataset uploads and model imports, which stream through (YARP never
/// buffers them) to the training API, where their own limit applies; the web UI's upload page streams on to the same
/// API route, so it passes too.
/// </summary>
public static class RequestSizeLimits
{
    public const long DefaultMaxBodyBytes = 32L * 1024 * 1024;

    /// <summary>The POST routes whose bodies stream through uncapped: path, and the Razor Pages handler where it is a page.</summary>
    private static readonly (string Path, string? Handler)[] StreamedUploads =
    [
        ("/api/datasets", null),
        ("/api/models/import", null),
        ("/datasets", "Upload"), // the web UI's upload page, which streams on to /api/datasets
    ];

    private static bool IsStreamedUpload(HttpRequest request)
    {
        if (!HttpMethods.IsPost(request.Method)) return false;
        foreach (var (path, handler) in StreamedUploads)
        {
            if (request.Path.Equals(path, StringComparison.OrdinalIgnoreCase)
                && (handler is null || string.Equals(request.Query["handler"], handler, StringComparison.OrdinalIgnoreCase)))
                return true;
        }
        return false;
    }

    public static WebApplicationBuilder AddRequestSizeLimits(this WebApplicationBuilder builder)
    {
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = null);
        return builder;
    }

    public static IApplicationBuilder UseRequestSizeLimits(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        if (IsStreamedUpload(context.Request))
        {
            await next(context);
            return;
        }
        // A declared length over the limit is refused before a byte is read (a client sending Expect: 100-continue
        // never sends the body at all); a chunked body is cut off by Kestrel when it passes the limit.
        if (context.Request.ContentLength > DefaultMaxBodyBytes)
        {
            await GatewayProblems.TooLargeAsync(context, DefaultMaxBodyBytes);
            return;
        }
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = DefaultMaxBodyBytes;
        }
        await next(context);
        // The proxy reports a body that overflowed mid-stream as its own failure (500); it is the caller's 413.
        if (!context.Response.HasStarted && context.GetForwarderErrorFeature()?.Exception is BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge })
        {
            context.Response.Clear();
            await GatewayProblems.TooLargeAsync(context, DefaultMaxBodyBytes);
        }
    });
}
