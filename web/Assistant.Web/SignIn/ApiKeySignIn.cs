using System.Security.Claims;
using Assistant.Web.Gateway;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.DataProtection;

namespace Assistant.Web.SignIn;

/// <summary>
/// Sign-in with an API key: the gateway is the judge of keys, the web app only keeps a key it accepted, as a claim
/// in an encrypted, HTTP-only, SameSite=Strict cookie. The cookie's encryption keys persist in
/// <c>Web:DataProtectionPath</c>, so a restarted web app still reads the sessions it issued.
/// </summary>
public static class ApiKeySignIn
{
    public const string KeyClaim = "assistant:api_key";
    public const string SignInPath = "/signin";
    public const string SessionCookie = "assistant.session";

    public static WebApplicationBuilder AddApiKeySignIn(this WebApplicationBuilder builder)
    {
        var folder = builder.Configuration["Web:DataProtectionPath"] is { Length: > 0 } configured
            ? configured
            : Path.Combine(Path.GetTempPath(), "assistant-web", "data-protection");
        builder.Services.AddDataProtection().SetApplicationName("Assistant.Web").PersistKeysToFileSystem(new DirectoryInfo(folder));
        builder.Services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme).AddCookie(cookie =>
        {
            cookie.Cookie.Name = SessionCookie;
            cookie.Cookie.HttpOnly = true;
            cookie.Cookie.SameSite = SameSiteMode.Strict;
            cookie.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            cookie.LoginPath = SignInPath;
            cookie.ExpireTimeSpan = TimeSpan.FromHours(12);
            cookie.SlidingExpiration = true;
            // Scripts polling JSON or following a stream get 401 rather than the sign-in page's HTML.
            cookie.Events.OnRedirectToLogin = context =>
            {
                if (IsScriptRequest(context.Request))
                {
                    context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                }
                else
                {
                    context.Response.Redirect(context.RedirectUri);
                }
                return Task.CompletedTask;
            };
        });
        builder.Services.AddAuthorization();
        return builder;
    }

    public static ClaimsPrincipal Principal(string key) => new(new ClaimsIdentity(
        [new Claim(ClaimTypes.Name, KeyLabel(key)), new Claim(KeyClaim, key)], CookieAuthenticationDefaults.AuthenticationScheme));

    /// <summary>How the signed-in key is shown: its first characters only.</summary>
    public static string KeyLabel(string key) => key.Length <= 12 ? new string('•', key.Length) : key[..8] + "…";

    /// <summary>A gateway 401 to the session's key (revoked, expired) signs the user out and sends them to sign in again.</summary>
    public static IApplicationBuilder UseRefusedKeySignOut(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        try
        {
            await next(context);
        }
        catch (GatewayKeyRefusedException ex) when (!context.Response.HasStarted)
        {
            context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(ApiKeySignIn))
                .LogInformation("The gateway refused the session's key ({Detail}); signing out", ex.Message);
            await context.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
            if (IsScriptRequest(context.Request))
            {
                context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            }
            else
            {
                context.Response.Redirect($"{SignInPath}?reason=refused&returnUrl={Uri.EscapeDataString(context.Request.Path + context.Request.QueryString)}");
            }
        }
    });

    private static bool IsScriptRequest(HttpRequest request) =>
        request.Headers.Accept.Any(a => a is not null && (a.Contains("application/json") || a.Contains("text/event-stream")));
}
