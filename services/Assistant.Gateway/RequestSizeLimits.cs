using Microsoft.AspNetCore.Http.Features;

namespace Assistant.Gateway;

/// <summary>
/// Bodies are capped at the gateway except dataset uploads and model imports, which stream through (YARP never
/// buffers them) to the training API, where their own limit applies.
/// </summary>
public static class RequestSizeLimits
{
    public const long DefaultMaxBodyBytes = 32L * 1024 * 1024;

    public static WebApplicationBuilder AddRequestSizeLimits(this WebApplicationBuilder builder)
    {
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = null);
        return builder;
    }

    public static IApplicationBuilder UseRequestSizeLimits(this IApplicationBuilder app) => app.Use((context, next) =>
    {
        var upload = HttpMethods.IsPost(context.Request.Method)
            && (context.Request.Path.Equals("/api/datasets", StringComparison.OrdinalIgnoreCase)
                || context.Request.Path.Equals("/api/models/import", StringComparison.OrdinalIgnoreCase));
        if (!upload && context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = DefaultMaxBodyBytes;
        }
        return next(context);
    });
}
