using Assistant.Platform.Security;

namespace Assistant.Gateway.Tests;

public sealed class ScopeTests
{
    [Theory]
    [InlineData("admin", "admin", true)]
    [InlineData("admin", "train", true)]
    [InlineData("admin", "read", true)]
    [InlineData("admin", "infer", true)]
    [InlineData("train", "train", true)]
    [InlineData("train", "read", true)]
    [InlineData("train", "infer", false)]
    [InlineData("train", "admin", false)]
    [InlineData("read", "read", true)]
    [InlineData("read", "train", false)]
    [InlineData("read", "infer", false)]
    [InlineData("infer", "infer", true)]
    [InlineData("infer", "read", false)]
    public void Admin_implies_every_scope_and_train_implies_read(string held, string required, bool granted) =>
        Assert.Equal(granted, ApiScopes.Grants([held], required));

    [Fact]
    public void Several_scopes_grant_what_any_of_them_grants()
    {
        Assert.True(ApiScopes.Grants(["read", "infer"], "infer"));
        Assert.False(ApiScopes.Grants(["read", "infer"], "train"));
        Assert.False(ApiScopes.Grants([], "read"));
    }

    /// <summary>Routes in the training API's shapes: literal and parameter segments, groups' trailing slashes, constraints.</summary>
    private static readonly ScopeTable Table = ScopeTable.Build(
    [
        new("GET", "/api/health", ApiScopes.NoKey, "GetPlatformHealth"),
        new("POST", "/api/jobs/", "train", "CreateJob"),
        new("GET", "/api/jobs/", "read", "ListJobs"),
        new("GET", "/api/jobs/compare", "read", "CompareJobs"),
        new("GET", "/api/jobs/{id}", "read", "GetJob"),
        new("POST", "/api/jobs/{id}/cancel", "train", "CancelJob"),
        new("DELETE", "/api/jobs/{id}", "train", "DeleteJob"),
        new("POST", "/api/models/import", "admin", "ImportModel"),
        new("GET", "/api/models/{name}", "read", "GetModel"),
        new("POST", "/api/alerts/{id:long}/acknowledge", "train", "AcknowledgeAlert"),
        new("GET", "/api/alerts/webhooks", "admin", "ListWebhooks"),
        new(null, "/api/legacy/{**rest}", null, "Legacy"),
    ]);

    [Theory]
    [InlineData("GET", "/api/health", AccessKind.Open, null)]
    [InlineData("GET", "/api/jobs", AccessKind.Scope, "read")]
    [InlineData("GET", "/api/jobs/", AccessKind.Scope, "read")]
    [InlineData("POST", "/api/jobs", AccessKind.Scope, "train")]
    [InlineData("post", "/API/Jobs/", AccessKind.Scope, "train")]
    [InlineData("GET", "/api/jobs/compare", AccessKind.Scope, "read")]
    [InlineData("GET", "/api/jobs/ftjob-1", AccessKind.Scope, "read")]
    [InlineData("DELETE", "/api/jobs/ftjob-1", AccessKind.Scope, "train")]
    [InlineData("POST", "/api/jobs/ftjob-1/cancel", AccessKind.Scope, "train")]
    [InlineData("POST", "/api/models/import", AccessKind.Scope, "admin")]
    [InlineData("GET", "/api/models/import", AccessKind.Scope, "read")]
    [InlineData("POST", "/api/alerts/12/acknowledge", AccessKind.Scope, "train")]
    [InlineData("GET", "/api/alerts/webhooks", AccessKind.Scope, "admin")]
    [InlineData("PUT", "/api/legacy/a/b", AccessKind.AnyKey, null)]
    public void A_request_needs_the_scope_of_the_most_specific_route_with_its_method(string method, string path, AccessKind kind, string? scope) =>
        Assert.Equal(new Access(kind, scope), Table.Find(method, path));

    [Theory]
    [InlineData("GET", "/api/no-such-thing")]
    [InlineData("PUT", "/api/jobs/ftjob-1")]
    [InlineData("GET", "/api/jobs/ftjob-1/cancel/extra")]
    [InlineData("GET", "/api")]
    public void A_request_no_route_matches_still_needs_a_valid_key(string method, string path) =>
        Assert.Equal(Access.AnyKey, Table.Find(method, path));
}
