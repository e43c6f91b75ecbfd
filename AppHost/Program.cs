using Assistant.AppHost;
using Assistant.AppHost.Infrastructure;

var builder = DistributedApplication.CreateBuilder(args);

// Infrastructure: containers, local executables or external services, chosen by the Infra setting.
var infra = builder.AddPlatformInfrastructure();
var database = infra.Database;
var redis = infra.Redis;
var objectStore = infra.ObjectStore;

// Training API: applies migrations before it reports healthy, so the others wait for it.
var trainingApi = builder.AddProject<Projects.Assistant_TrainingApi>("training-api")
    .WithReference(database).WaitFor(database)
    .WithReference(redis).WaitFor(redis)
    .WithReference(objectStore).WaitFor(objectStore)
    .WithQueueReconciliation(builder.Configuration)
    .WithHttpHealthCheck("/health");

// Trainer workers: one job each at a time; a job whose worker dies is resumed by another from its checkpoint.
var trainer = builder.AddProject<Projects.Assistant_Trainer>("trainer")
    .WithReplicas(2)
    .WithReference(database)
    .WithReference(redis)
    .WithReference(objectStore)
    .WaitFor(trainingApi)
    .WithJobLease(builder.Configuration)
    .WithHttpHealthCheck("/health");

var inference = builder.AddProject<Projects.Assistant_Inference>("inference")
    .WithReference(redis).WaitFor(redis)
    .WithReference(objectStore).WaitFor(objectStore)
    .WithHttpHealthCheck("/health");

var web = builder.AddProject<Projects.Assistant_Web>("web")
    .WithHttpHealthCheck("/health");

// Gateway: the one front door.
var gateway = builder.AddProject<Projects.Assistant_Gateway>("gateway")
    .WithReference(trainingApi).WaitFor(trainingApi)
    .WithReference(inference).WaitFor(inference)
    .WithReference(web).WaitFor(web)
    .WithHttpHealthCheck("/health")
    .WithExternalHttpEndpoints();

// The web UI reads everything through the gateway's API.
web.WithReference(gateway);

builder.Build().Run();
