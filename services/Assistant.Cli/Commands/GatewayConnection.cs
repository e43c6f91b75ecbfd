using System.CommandLine;
using System.Net;
using System.Net.Http.Headers;

namespace Assistant.Cli.Commands;

/// <summary>Options every platform verb shares: where the gateway is and which API key to send.</summary>
internal static class GatewayConnection
{
    public const string DefaultGateway = "http://localhost:5180";

    public static readonly Option<Uri> Gateway = new("--gateway")
    {
        Description = $"Gateway URL (env ASSISTANT_GATEWAY, default {DefaultGateway}).",
        Recursive = true,
        DefaultValueFactory = _ => new Uri(Environment.GetEnvironmentVariable("ASSISTANT_GATEWAY") is { Length: > 0 } url ? url : DefaultGateway),
        CustomParser = result =>
        {
            var text = result.Tokens.Single().Value;
            if (Uri.TryCreate(text, UriKind.Absolute, out var url) && url.Scheme is "http" or "https")
            {
                return url;
            }
            result.AddError($"--gateway '{text}' is not an http(s) URL such as {DefaultGateway}.");
            return null;
        },
    };

    /// <summary>
    /// The key to send. No default value on the option itself: help would print it. <see cref="ApiKeyOf"/> falls back
    /// to <c>ASSISTANT_API_KEY</c>, then to the admin key file that <c>./run.sh</c> writes.
    /// </summary>
    public static readonly Option<string?> ApiKey = new("--api-key")
    {
        Description = "API key (default: env ASSISTANT_API_KEY, else the admin key file ./run.sh writes, $XDG_CONFIG_HOME/assistant/admin-api-key).",
        Recursive = true,
    };

    public const string ApiKeyVariable = "ASSISTANT_API_KEY";

    /// <summary>The admin key file: <c>$XDG_CONFIG_HOME/assistant/admin-api-key</c>, by default under <c>~/.config</c>.</summary>
    public static string AdminKeyFile =>
        Path.Combine(Environment.GetEnvironmentVariable("XDG_CONFIG_HOME") is { Length: > 0 } config
            ? config
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config"), "assistant", "admin-api-key");

    /// <summary>--api-key, else ASSISTANT_API_KEY, else the admin key file; null when none is set.</summary>
    public static string? ApiKeyOf(ParseResult parse)
    {
        if (parse.GetValue(ApiKey) is { Length: > 0 } given) return given;
        if (Environment.GetEnvironmentVariable(ApiKeyVariable) is { Length: > 0 } fromEnvironment) return fromEnvironment.Trim();
        try
        {
            return File.Exists(AdminKeyFile) && File.ReadAllText(AdminKeyFile).Trim() is { Length: > 0 } fromFile ? fromFile : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null; // an unreadable file is the same as none: the gateway's 401 says what to do
        }
    }

    public static HttpClient CreateClient(ParseResult parse)
    {
        var http = new HttpClient { BaseAddress = parse.GetValue(Gateway), Timeout = TimeSpan.FromSeconds(30) };
        if (ApiKeyOf(parse) is { } key)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }
        return http;
    }

    /// <summary>
    /// Runs a platform verb with a gateway client; an unreachable gateway or a bad argument becomes one
    /// readable line on stderr and exit code 1.
    /// </summary>
    public static async Task<int> RunAsync(ParseResult parse, Func<HttpClient, TextWriter, TextWriter, Task<int>> verb)
    {
        var error = parse.InvocationConfiguration.Error;
        using var http = CreateClient(parse);
        try
        {
            return await verb(http, parse.InvocationConfiguration.Output, error);
        }
        catch (HttpRequestException ex) when (ex.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
        {
            await error.WriteLineAsync(ApiErrors.KeyRefused($"HTTP {(int)ex.StatusCode}"));
            return 1;
        }
        catch (HttpRequestException ex)
        {
            await error.WriteLineAsync(Unreachable(parse.GetValue(Gateway)!, ex));
            return 1;
        }
        catch (ArgumentValueException ex)
        {
            await error.WriteLineAsync($"error: {ex.Message}");
            return 1;
        }
    }

    /// <summary>A sentence a person can act on, instead of a stack trace.</summary>
    public static string Unreachable(Uri gateway, HttpRequestException ex) =>
        $"Cannot reach the gateway at {gateway} ({ex.HttpRequestError switch
        {
            HttpRequestError.ConnectionError => "connection refused",
            HttpRequestError.NameResolutionError => "unknown host",
            _ => ex.Message,
        }}). Is the platform running (./run.sh)? Set --gateway or ASSISTANT_GATEWAY to its URL.";
}

/// <summary>An argument a verb could not use; the message says what is wrong with it.</summary>
internal sealed class ArgumentValueException(string message) : Exception(message);
