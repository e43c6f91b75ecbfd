using Assistant.Inference;
using Assistant.Inference.Apis;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
// Models behind the alias (or one local folder), a continuous-batching engine per model, replica state, metrics.
builder.AddInference();

var app = builder.Build();

app.UseExceptionHandler();
app.MapDefaultEndpoints();             // /health: ready once the models are loaded; /alive
app.MapPrometheusScrapingEndpoint();   // /metrics
app.MapOpenAiApi();                    // /v1/models, /v1/chat/completions, /v1/completions
app.MapGenerateApi();                  // /generate

app.Run();
