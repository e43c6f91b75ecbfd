using Assistant.Gateway;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddRequestSizeLimits();
builder.Services.AddReverseProxy()
    .LoadFromMemory(GatewayRoutes.Routes, GatewayRoutes.Clusters)
    .AddServiceDiscoveryDestinationResolver();

var app = builder.Build();

app.UseRequestSizeLimits();
app.MapDefaultEndpoints();
app.MapReverseProxy();

app.Run();
