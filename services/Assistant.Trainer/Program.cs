using Assistant.Platform.Jobs;
using Assistant.Platform.Persistence;
using Assistant.Platform.Storage;
using Assistant.Platform.Workers;
using Assistant.Trainer;
using Assistant.Trainer.JobProcesses;

// The same executable runs a job's child process (run-job, evaluate, create-starter): no web host there.
if (JobProcessProtocol.IsChildCommand(args)) return JobProcessMain.Run(args);

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddPlatformDatabase();
builder.AddRedisClient(RedisKeys.ConnectionName);
builder.AddArtifactStore();
builder.AddJobs();
builder.AddTrainerWorker();

var app = builder.Build();

app.MapDefaultEndpoints();

app.Run();
return 0;
