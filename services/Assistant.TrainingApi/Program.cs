using Assistant.Platform.Persistence;
using Assistant.Platform.Storage;
using Assistant.TrainingApi.Apis;
using Assistant.TrainingApi.Database;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddPlatformDatabase();
builder.AddRedisClient(Assistant.Platform.Workers.RedisKeys.ConnectionName);
builder.AddArtifactStore();
builder.AddDatabaseMigrations();
builder.Services.AddProblemDetails();
builder.Services.AddSingleton<PlatformHealth>();

var app = builder.Build();

app.UseExceptionHandler();
app.UseStatusCodePages();
app.MapDefaultEndpoints();
app.MapHealthApi();

app.Run();
