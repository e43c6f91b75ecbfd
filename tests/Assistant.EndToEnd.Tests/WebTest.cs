using System.Net;
using System.Net.Http.Headers;
using Microsoft.Playwright;

namespace Assistant.EndToEnd.Tests;

/// <summary>One chromium per test class (Debian's, driven by Playwright; never a downloaded browser); each test opens its own context.</summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    public const string Chromium = "/usr/bin/chromium";
    private IPlaywright? _playwright;

    public IBrowser Instance { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        _playwright = await Playwright.CreateAsync();
        Instance = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = Chromium, Headless = true });
    }

    public async ValueTask DisposeAsync()
    {
        await Instance.DisposeAsync();
        _playwright?.Dispose();
    }
}

/// <summary>
/// What every browser test of the web UI shares: pages in their own contexts against the gateway the AppHost started,
/// signing in like a user, an admin API client for set-up outside the browser, and full-page screenshots under
/// TestResults/screenshots (the artifacts CI keeps).
/// </summary>
public abstract class WebTest(PlatformFixture fixture, BrowserFixture browser) : IAsyncDisposable
{
    private readonly List<IBrowserContext> _contexts = [];
    protected static CancellationToken Ct => TestContext.Current.CancellationToken;
    protected RunningPlatform Platform => fixture.Platform;

    protected Uri BaseAddress => Platform.CreateGatewayClient().BaseAddress!;

    /// <summary>A client of the gateway's API with the admin key, for what the tests set up outside the browser.</summary>
    protected HttpClient Api()
    {
        var client = Platform.CreateGatewayClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Platform.AdminApiKey);
        return client;
    }

    protected async Task<IPage> NewPageAsync(int width = 1280, int height = 800)
    {
        var context = await browser.Instance.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = BaseAddress.ToString().TrimEnd('/'),
            ViewportSize = new ViewportSize { Width = width, Height = height },
        });
        context.SetDefaultTimeout(15_000);
        _contexts.Add(context);
        return await context.NewPageAsync();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var context in _contexts) await context.DisposeAsync();
        GC.SuppressFinalize(this);
    }

    protected async Task SignInAsync(IPage page, string key)
    {
        await page.GotoAsync("/signin");
        await page.GetByLabel("API key").FillAsync(key);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
    }

    /// <summary>Signs in with the admin key and waits for the dashboard.</summary>
    protected async Task<IPage> SignedInPageAsync(int width = 1280, int height = 800)
    {
        var page = await NewPageAsync(width, height);
        await SignInAsync(page, Platform.AdminApiKey);
        await page.WaitForURLAsync(new Uri(BaseAddress, "/").ToString());
        return page;
    }

    protected static async Task ScreenshotAsync(IPage page, string name) =>
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotFolder, $"{name}.png"), FullPage = true });

    /// <summary>The folder holding Assistant.sln, above the test's build output.</summary>
    protected static readonly string RepositoryRoot = FindRepositoryRoot();

    /// <summary>TestResults/screenshots at the repository root: the test artifacts CI keeps.</summary>
    private static readonly string ScreenshotFolder = Directory.CreateDirectory(Path.Combine(RepositoryRoot, "TestResults", "screenshots")).FullName;

    private static string FindRepositoryRoot()
    {
        var folder = new DirectoryInfo(AppContext.BaseDirectory);
        while (folder is not null && !File.Exists(Path.Combine(folder.FullName, "Assistant.sln"))) folder = folder.Parent;
        return folder?.FullName ?? throw new InvalidOperationException($"No Assistant.sln above {AppContext.BaseDirectory}.");
    }

    /// <summary>Uploads a file of samples/ through the API; returns its reference (name@1).</summary>
    protected static async Task<string> UploadSampleAsync(HttpClient api, string file, string format)
    {
        var name = DatasetsApiTests.UniqueName("lumen");
        var content = await File.ReadAllTextAsync(Path.Combine(RepositoryRoot, "samples", file), Ct);
        using var response = await DatasetsApiTests.UploadAsync(api, name, file, content, format);
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"{file}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(Ct)}");
        return $"{name}@1";
    }
}
