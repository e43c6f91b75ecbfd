using System.Text.Json;
using Assistant.Platform.Datasets;
using Assistant.Platform.Jobs;
using Assistant.Platform.Persistence;
using Assistant.Platform.Storage;
using Assistant.TrainingApi.Apis;
using Assistant.TrainingApi.Background;
using Assistant.TrainingApi.Database;
using Assistant.TrainingApi.Jobs;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddPlatformDatabase();
builder.AddRedisClient(Assistant.Platform.Workers.RedisKeys.ConnectionName);
builder.AddArtifactStore();
builder.AddDatabaseMigrations();
builder.AddDatasets();
builder.AddJobs();
builder.AddJobApi();
builder.AddBackgroundServices();
builder.Services.AddProblemDetails();
builder.Services.AddSingleton<PlatformHealth>();
// snake_case on the wire, like the seed's API and OpenAI's.
builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower);

var app = builder.Build();

app.UseExceptionHandler();
app.UseStatusCodePages();
app.MapDefaultEndpoints();
app.MapHealthApi();
app.MapDatasetsApi();
app.MapJobsApi();
app.MapEvaluationsApi();
app.MapSweepsApi();
app.MapModelsApi();
app.MapDeploymentsApi();
app.MapWorkersApi();
app.MapQueueApi();
app.MapAlertsApi();
app.MapSecurityApi();

app.Run();
