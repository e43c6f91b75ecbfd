using Assistant.Platform.Persistence;
using Assistant.Platform.Storage;
using Assistant.Platform.Workers;
using Assistant.Trainer;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddPlatformDatabase();
builder.AddRedisClient(RedisKeys.ConnectionName);
builder.AddArtifactStore();
builder.AddTrainerWorker();

var app = builder.Build();

app.MapDefaultEndpoints();

app.Run();
