using Assistant.Gateway;
using Assistant.Platform.Persistence;
using Assistant.Platform.Workers;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddPlatformDatabase();
builder.AddRedisClient(RedisKeys.ConnectionName);
builder.AddRequestSizeLimits();
builder.AddApiKeyAuthentication();
builder.AddRateLimits();
builder.Services.AddReverseProxy()
    .LoadFromMemory(GatewayRoutes.Routes, GatewayRoutes.Clusters)
    .AddServiceDiscoveryDestinationResolver()
    .AddTransforms(CallerHeaders.Apply);

var app = builder.Build();

app.UseRequestSizeLimits();
app.UseApiKeyAuthentication();
app.UseRateLimits();
app.MapDefaultEndpoints();
app.MapKeysApi();
app.MapReverseProxy();

app.Run();
