using System.Net;
using System.Text.RegularExpressions;

namespace Assistant.EndToEnd.Tests;

/// <summary>An HTTP client signed in to the web app through its sign-in form, as a browser would be.</summary>
internal static partial class WebSession
{
    public static async Task<HttpClient> SignInAsync(RunningPlatform platform, CancellationToken ct)
    {
        var client = new HttpClient(new SocketsHttpHandler { CookieContainer = new CookieContainer() })
        {
            BaseAddress = platform.CreateGatewayClient().BaseAddress,
        };
        var form = await client.GetStringAsync("/signin", ct);
        var token = AntiforgeryToken().Match(form).Groups[1].Value;
        using var signIn = await client.PostAsync("/signin", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["Key"] = platform.AdminApiKey,
            ["__RequestVerificationToken"] = token,
        }), ct);
        signIn.EnsureSuccessStatusCode();
        Assert.Equal("/", signIn.RequestMessage!.RequestUri!.AbsolutePath); // redirected to the dashboard
        return client;
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryToken();
}
