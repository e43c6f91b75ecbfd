using Assistant.Web.Gateway;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.Services.AddRazorPages();
// The UI talks only to the gateway's API: it can do nothing the API can't.
builder.Services.AddHttpClient<PlatformClient>(client => client.BaseAddress = new Uri("http://gateway"));

var app = builder.Build();

app.UseExceptionHandler("/Error");
app.UseStaticFiles();
app.MapDefaultEndpoints();
app.MapRazorPages();

app.Run();
