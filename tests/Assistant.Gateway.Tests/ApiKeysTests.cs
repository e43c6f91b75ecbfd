using System.Security.Cryptography;
using System.Text;
using Assistant.Platform.Security;

namespace Assistant.Gateway.Tests;

public sealed class ApiKeysTests
{
    private static readonly DateTimeOffset Now = new(2030, 1, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_generated_key_is_asst_and_43_base64url_characters_and_never_repeats()
    {
        var keys = Enumerable.Range(0, 200).Select(_ => ApiKeys.Generate()).ToList();

        Assert.All(keys, key =>
        {
            Assert.Matches("^asst_[A-Za-z0-9_-]{43}$", key);
            Assert.True(ApiKeys.IsWellFormed(key));
        });
        Assert.Equal(keys.Count, keys.Distinct().Count());
    }

    [Theory]
    [InlineData("")]
    [InlineData("asst_")]
    [InlineData("sk-proj-0123456789012345678901234567890123456789012")]
    [InlineData("asst_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")] // 42
    [InlineData("asst_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")] // 44
    [InlineData("asst_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+A")] // not base64url
    [InlineData("ASST_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    public void Anything_else_is_not_well_formed(string token) => Assert.False(ApiKeys.IsWellFormed(token));

    [Fact]
    public void The_hash_is_the_sha256_of_the_utf8_key_and_the_prefix_its_first_12_characters()
    {
        var key = ApiKeys.Generate();

        Assert.Equal(SHA256.HashData(Encoding.UTF8.GetBytes(key)), ApiKeys.Hash(key));
        Assert.Equal(key[..12], ApiKeys.PrefixOf(key));
        Assert.Equal(SHA256.HashData(Encoding.UTF8.GetBytes("clé-ünïcode")), ApiKeys.Hash("clé-ünïcode"));
        Assert.Throws<ArgumentException>(() => ApiKeys.Hash(new string('a', ApiKeys.MaxTokenLength + 1)));
    }

    [Fact]
    public void A_key_is_valid_until_it_expires_or_is_revoked_and_revocation_says_so_first()
    {
        Assert.Equal(ApiKeyState.Unknown, ApiKeys.StateOf(null, Now));
        Assert.Equal(ApiKeyState.Valid, ApiKeys.StateOf(Key(), Now));
        Assert.Equal(ApiKeyState.Valid, ApiKeys.StateOf(Key(expiresAt: Now.AddTicks(1)), Now));
        Assert.Equal(ApiKeyState.Expired, ApiKeys.StateOf(Key(expiresAt: Now), Now));
        Assert.Equal(ApiKeyState.Revoked, ApiKeys.StateOf(Key(revokedAt: Now.AddDays(-1)), Now));
        Assert.Equal(ApiKeyState.Revoked, ApiKeys.StateOf(Key(expiresAt: Now.AddDays(-2), revokedAt: Now.AddDays(-1)), Now));
    }

    [Fact]
    public void A_valid_request_is_trimmed_and_its_scopes_made_unique_and_ordered()
    {
        var valid = ApiKeys.Validate(new NewApiKey("  ci bot  ", ["infer", "read", "infer"], Now.AddDays(1), 60), Now);

        Assert.Equal("ci bot", valid.Name);
        Assert.Equal(["read", "infer"], valid.Scopes);
        Assert.Equal(Now.AddDays(1), valid.ExpiresAt);
        Assert.Equal(60, valid.RequestsPerMinute);
    }

    [Theory]
    [InlineData("", "read", null, null, "name")]
    [InlineData("   ", "read", null, null, "name")]
    [InlineData("tab\there", "read", null, null, "name")]
    [InlineData("n", "", null, null, "scopes")]
    [InlineData("n", "read,root", null, null, "scopes")]
    [InlineData("n", "Read", null, null, "scopes")]
    [InlineData("n", "read", 0, null, "expires_at")]
    [InlineData("n", "read", -60, null, "expires_at")]
    [InlineData("n", "read", null, 0, "requests_per_minute")]
    [InlineData("n", "read", null, -5, "requests_per_minute")]
    public void A_request_the_caller_can_fix_names_the_field(string name, string scopes, int? expiresInSeconds, int? perMinute, string param)
    {
        var request = new NewApiKey(name, scopes.Split(',', StringSplitOptions.RemoveEmptyEntries),
            expiresInSeconds is { } s ? Now.AddSeconds(s) : null, perMinute);

        var problem = Assert.Throws<ApiKeyRequestException>(() => ApiKeys.Validate(request, Now));

        Assert.Equal(param, problem.Param);
    }

    [Fact]
    public void A_name_of_exactly_100_characters_is_fine_and_101_is_not()
    {
        ApiKeys.Validate(new NewApiKey(new string('n', 100), ["read"], null, null), Now);
        Assert.Throws<ApiKeyRequestException>(() => ApiKeys.Validate(new NewApiKey(new string('n', 101), ["read"], null, null), Now));
    }

    private static ApiKey Key(DateTimeOffset? expiresAt = null, DateTimeOffset? revokedAt = null) => new()
    {
        Name = "k", Prefix = "asst_abcdefg", Hash = new byte[32], Scopes = ["read"], ExpiresAt = expiresAt, RevokedAt = revokedAt,
    };
}
