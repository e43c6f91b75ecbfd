using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Assistant.Inference.Apis;

/// <summary>A model as OpenAI's <c>GET /v1/models</c> lists it.</summary>
public sealed record ModelCard(
    string Id,
    [property: JsonPropertyName("object")] string Object,
    long Created,
    [property: JsonPropertyName("owned_by")] string OwnedBy);

public sealed record ModelList([property: JsonPropertyName("object")] string Object, IReadOnlyList<ModelCard> Data);

public static class OpenAiApi
{
    public static IEndpointRouteBuilder MapOpenAiApi(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/v1").WithTags("OpenAI");
        v1.MapGet("/models", ListModels)
            .WithName("ListModels")
            .WithSummary("Models this replica serves (empty until a model version is deployed).");
        return app;
    }

    private static Ok<ModelList> ListModels() => TypedResults.Ok(new ModelList("list", []));
}
