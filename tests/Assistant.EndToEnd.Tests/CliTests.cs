using Assistant.Cli;

namespace Assistant.EndToEnd.Tests;

/// <summary>The <c>assistant</c> CLI against the running platform (in process, same code as the binary).</summary>
public sealed class CliTests(PlatformFixture fixture)
{
    [Fact]
    public async Task Status_lists_every_service_up_through_the_gateway()
    {
        using var gateway = fixture.Platform.CreateGatewayClient();
        var (exit, output, error) = await RunAsync("status", "--gateway", gateway.BaseAddress!.ToString());

        Assert.Equal(0, exit);
        Assert.Equal("", error);
        foreach (var part in new[] { "gateway", "training-api", "postgres", "redis", "s3", "trainer", "inference" })
        {
            Assert.Matches($"(?m)^  {part} +up", output);
        }
    }

    [Fact]
    public async Task Status_explains_an_unreachable_gateway_without_a_stack_trace()
    {
        var (exit, output, error) = await RunAsync("status", "--gateway", "http://127.0.0.1:9");

        Assert.Equal(1, exit);
        Assert.Equal("", output);
        Assert.Contains("Cannot reach the gateway at http://127.0.0.1:9/", error);
        Assert.DoesNotContain("   at ", error);
    }

    [Fact]
    public async Task Version_prints_the_informational_version()
    {
        var (exit, output, _) = await RunAsync("--version");

        Assert.Equal(0, exit);
        Assert.Matches(@"^\d+\.\d+\.\d+\+\w+", output.Trim());
    }

    [Fact]
    public async Task Help_names_the_status_verb()
    {
        var (exit, output, _) = await RunAsync("--help");

        Assert.Equal(0, exit);
        Assert.Contains("status", output);
        Assert.Contains("Usage:", output);
    }

    private static async Task<(int Exit, string Output, string Error)> RunAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = await CliApp.RunAsync(args, output, error, TestContext.Current.CancellationToken);
        return (exit, output.ToString(), error.ToString());
    }
}
