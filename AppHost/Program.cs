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

// Inference replicas: each serves the versions the `production` alias points at and follows alias moves. One resource
// per replica, so the gateway balances load across them and health-checks each (Aspire's WithReplicas hides them behind one address).
var inference = builder.AddInferenceReplicas(2, replica => replica
    .WithReference(database)
    .WithReference(redis)
    .WithReference(objectStore)
    .WaitFor(trainingApi)
    .WithHttpHealthCheck("/health"));

var web = builder.AddProject<Projects.Assistant_Web>("web")
    .WithHttpHealthCheck("/health");

// Gateway: the one front door. It checks API keys (hashed in Postgres; the first admin key is a secret
// parameter) and rate-limits callers before anything reaches a service.
var adminApiKey = builder.AddParameter("admin-api-key", new GenerateParameterDefault { MinLength = 40, Special = false }, secret: true, persist: true);
var gateway = builder.AddProject<Projects.Assistant_Gateway>("gateway")
    .WithReference(database)
    .WithReference(redis)
    .WithEnvironment("Auth__AdminApiKey", adminApiKey)
    .WithReference(trainingApi).WaitFor(trainingApi)
    .WithInferenceReplicas(inference)
    .WithReference(web).WaitFor(web)
    .WithHttpHealthCheck("/health")
    .WithExternalHttpEndpoints();

// The web UI reads everything through the gateway's API.
web.WithReference(gateway);

builder.Build().Run();
