using Assistant.Platform.Security;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Assistant.Gateway;

/// <summary>
/// What a backend learns about the caller: the id and name of the key the gateway verified
/// (<c>X-Api-Key-Id</c>, <c>X-Api-Key-Name</c>), never the key. The Authorization header stops here, and any
/// caller-sent key headers are dropped so no one can claim another key's identity.
/// </summary>
public static class CallerHeaders
{
    public static void Apply(TransformBuilderContext transforms) => transforms.AddRequestTransform(context =>
    {
        var headers = context.ProxyRequest.Headers;
        headers.Remove("Authorization");
        headers.Remove(ApiKeys.IdHeader);
        headers.Remove(ApiKeys.NameHeader);
        if (context.HttpContext.Features.Get<VerifiedKey>() is { } key)
        {
            headers.TryAddWithoutValidation(ApiKeys.IdHeader, key.IdText);
            headers.TryAddWithoutValidation(ApiKeys.NameHeader, key.HeaderName);
        }
        return ValueTask.CompletedTask;
    });
}
