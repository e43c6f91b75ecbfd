using System.ComponentModel.DataAnnotations;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace Assistant.Gateway;

/// <summary><c>Gateway:RateLimit</c>: requests per minute per key unless the key sets its own.</summary>
public sealed class RateLimitOptions
{
    [Range(1, int.MaxValue)]
    public int RequestsPerMinute { get; set; } = 6000;
}

/// <summary>
/// A token bucket per API key: it refills at the key's requests per minute and holds a sixth of that, so a key can
/// burst for ten seconds' worth and then goes at its rate. Over it: 429 with <c>Retry-After</c>. Requests that need
/// no key are not limited here.
/// </summary>
public static class RateLimits
{
    private readonly record struct Partition(Guid KeyId, int RequestsPerMinute);

    public static WebApplicationBuilder AddRateLimits(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<RateLimitOptions>().BindConfiguration("Gateway:RateLimit").ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddRateLimiter(_ => { });
        builder.Services.AddOptions<RateLimiterOptions>().Configure<IOptions<RateLimitOptions>>((limiter, limits) =>
        {
            var perMinute = limits.Value.RequestsPerMinute;
            limiter.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, Partition>(context =>
                context.Features.Get<VerifiedKey>() is { } key
                    ? RateLimitPartition.GetTokenBucketLimiter(new Partition(key.Id, key.RequestsPerMinute ?? perMinute), p => Bucket(p.RequestsPerMinute))
                    : RateLimitPartition.GetNoLimiter(default(Partition)));
            limiter.OnRejected = (rejected, _) => new ValueTask(GatewayProblems.TooManyRequestsAsync(rejected.HttpContext,
                rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : TimeSpan.FromSeconds(1)));
        });
        return builder;
    }

    public static IApplicationBuilder UseRateLimits(this IApplicationBuilder app) => app.UseRateLimiter();

    /// <summary>
    /// A bucket that refills at exactly <paramref name="requestsPerMinute"/>: whole tokens per period (at least one),
    /// with the period stretched to match, so 2 a minute is one token every 30 s and 6000 is 100 every second.
    /// </summary>
    public static TokenBucketRateLimiterOptions Bucket(int requestsPerMinute)
    {
        var tokensPerPeriod = Math.Max(1, requestsPerMinute / 60);
        return new TokenBucketRateLimiterOptions
        {
            TokenLimit = Math.Max(1, requestsPerMinute / 6),
            TokensPerPeriod = tokensPerPeriod,
            ReplenishmentPeriod = TimeSpan.FromMinutes(1) * tokensPerPeriod / requestsPerMinute,
            QueueLimit = 0,
            AutoReplenishment = true,
        };
    }
}
