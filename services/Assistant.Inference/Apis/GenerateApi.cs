using Microsoft.AspNetCore.Http.HttpResults;

namespace Assistant.Inference.Apis;

public sealed record GenerateRequest(string Prompt, int MaxLength = 256);

public static class GenerateApi
{
    public static IEndpointRouteBuilder MapGenerateApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/generate", Generate)
            .WithName("Generate")
            .WithSummary("The classic generation endpoint: {prompt, max_length} -> {response}.")
            .WithTags("Generate");
        return app;
    }

    /// <summary>Nothing is deployed yet, so every request gets a clear 503 rather than a made-up answer.</summary>
    private static ProblemHttpResult Generate(GenerateRequest request) =>
        TypedResults.Problem(
            title: "No model is deployed",
            detail: "Deploy a model version (POST /api/deploy/{job_id}) before generating.",
            statusCode: StatusCodes.Status503ServiceUnavailable,
            type: "https://assistant.dev/problems/no-model-deployed");
}
