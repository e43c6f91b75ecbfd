using System.Diagnostics;
using System.Threading.RateLimiting;
using Assistant.Platform.Security;
using Microsoft.Extensions.Primitives;

namespace Assistant.Gateway.Tests;

public sealed class GatewayRulesTests
{
    [Theory]
    [InlineData("Bearer asst_abc", "asst_abc")]
    [InlineData("bearer   asst_abc  ", "asst_abc")]
    [InlineData("BEARER asst_abc", "asst_abc")]
    public void A_bearer_header_gives_its_token(string header, string token)
    {
        Assert.True(ApiKeyAuthentication.TryReadBearer(new StringValues(header), out var read));
        Assert.Equal(token, read);
    }

    [Theory]
    [InlineData("Basic dXNlcjpwYXNz")]
    [InlineData("Bearer")]
    [InlineData("Bearer ")]
    [InlineData("Bearer two tokens")]
    [InlineData("asst_abc")]
    public void Anything_but_one_bearer_token_is_refused(string header) =>
        Assert.False(ApiKeyAuthentication.TryReadBearer(new StringValues(header), out _));

    [Fact]
    public void Two_authorization_headers_are_refused() =>
        Assert.False(ApiKeyAuthentication.TryReadBearer(new StringValues(["Bearer a", "Bearer b"]), out _));

    [Theory]
    [InlineData(6000, 1000, 100, 1000)]
    [InlineData(90, 15, 1, 667)]
    [InlineData(60, 10, 1, 1000)]
    [InlineData(2, 1, 1, 30_000)]
    [InlineData(1, 1, 1, 60_000)]
    public void A_bucket_refills_at_the_rate_per_minute_and_holds_a_sixth(int perMinute, int limit, int tokens, int periodMs)
    {
        var bucket = RateLimits.Bucket(perMinute);

        Assert.Equal(limit, bucket.TokenLimit);
        Assert.Equal(tokens, bucket.TokensPerPeriod);
        Assert.Equal(periodMs, bucket.ReplenishmentPeriod.TotalMilliseconds, 0.5);
        Assert.Equal(perMinute, bucket.TokensPerPeriod * (60_000 / bucket.ReplenishmentPeriod.TotalMilliseconds), 0.01);
    }

    [Fact]
    public void Over_the_bucket_a_request_is_refused_with_the_time_to_the_next_token()
    {
        var bucket = RateLimits.Bucket(2);
        bucket.AutoReplenishment = false;
        using var limiter = new TokenBucketRateLimiter(bucket);

        using var first = limiter.AttemptAcquire();
        using var second = limiter.AttemptAcquire();

        Assert.True(first.IsAcquired);
        Assert.False(second.IsAcquired);
        Assert.True(second.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter));
        Assert.Equal(TimeSpan.FromSeconds(30), retryAfter);
    }

    [Fact]
    public void The_per_request_work_of_a_cached_key_takes_microseconds()
    {
        var table = ScopeTable.Build(Enumerable.Range(0, 40).Select(i => new RouteScope("GET", $"/api/section{i % 8}/{{id}}/part{i}", "read", null))
            .Append(new RouteScope("GET", "/api/jobs/{id}", "read", null)));
        var key = ApiKeys.Generate();
        const int rounds = 20_000;
        for (var i = 0; i < 1000; i++) Work();

        var clock = Stopwatch.StartNew();
        for (var i = 0; i < rounds; i++) Work();
        var perRequest = clock.Elapsed.TotalMicroseconds / rounds;

        TestContext.Current.TestOutputHelper?.WriteLine($"header + SHA-256 + route match + scope check: {perRequest:F2} µs per request");
        Assert.True(perRequest < 100, $"{perRequest:F2} µs");

        void Work()
        {
            Assert.True(ApiKeyAuthentication.TryReadBearer(new StringValues("Bearer " + key), out var token));
            ApiKeys.Hash(token);
            var access = table.Find("GET", "/api/jobs/ftjob-123");
            Assert.True(ApiScopes.Grants(["train"], access.Scope!));
        }
    }
}
