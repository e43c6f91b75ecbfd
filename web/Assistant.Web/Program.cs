using Assistant.Web.Gateway;
using Assistant.Web.SignIn;
using Microsoft.AspNetCore.HttpOverrides;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddApiKeySignIn();
// The UI talks only to the gateway's API, with the signed-in user's key: it can do nothing the API can't.
builder.AddGatewayClients(new Uri("http://gateway"));
// Reached only through the gateway: its X-Forwarded-* headers name the address the browser used, so redirects go there.
builder.Services.Configure<ForwardedHeadersOptions>(o =>
{
    o.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedHost | ForwardedHeaders.XForwardedProto;
    o.KnownIPNetworks.Clear();
    o.KnownProxies.Clear();
});
builder.Services.AddRazorPages(pages =>
{
    pages.Conventions.AuthorizeFolder("/");
    pages.Conventions.AllowAnonymousToPage("/SignIn");
    pages.Conventions.AllowAnonymousToPage("/Error");
});

var app = builder.Build();

app.UseForwardedHeaders();
app.UseExceptionHandler("/Error");
app.UseStaticFiles();
app.UseAuthentication();
app.UseRefusedKeySignOut();
app.UseAuthorization();
app.MapDefaultEndpoints();
app.MapRazorPages();

app.Run();
