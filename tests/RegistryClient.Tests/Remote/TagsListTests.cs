using Microsoft.AspNetCore.Http;
using RegistryClient.Names;
using RegistryClient.Remote;
using RegistryClient.Tests.Infrastructure;

namespace RegistryClient.Tests.Remote;

/// <summary>mirror --all-tags lists tags through <see cref="RemoteRegistry.ListTagsAsync"/>: Link pagination, bad tags, hostile pages.</summary>
public sealed class TagsListTests
{
    [Fact]
    public async Task Pages_AreFollowedThroughLinkHeaders_AndInvalidTagsSkipped()
    {
        await using FaultServer server = await FaultServer.StartAsync(async context =>
        {
            string last = context.Request.Query["last"].ToString();
            if (last.Length == 0)
            {
                context.Response.Headers.Link = "</v2/library/m/tags/list?n=2&last=b>; rel=\"next\"";
                await context.Response.WriteAsync("""{"name":"library/m","tags":["b","a"]}""");
            }
            else if (last == "b")
            {
                context.Response.Headers.Link = "</v2/library/m/tags/list?n=2&last=..%2Fx>; rel=\"next\"";
                await context.Response.WriteAsync("""{"name":"library/m","tags":["c","../x"]}""");
            }
            else
            {
                await context.Response.WriteAsync("""{"name":"library/m","tags":["d"]}""");
            }
        });

        IReadOnlyList<string> tags = await Registries.Create().ListTagsAsync(ModelName.Parse($"http://{server.HostAndPort}/library/m"), TestContext.Current.CancellationToken);

        Assert.Equal(["a", "b", "c", "d"], tags);
        Assert.Equal(3, server.Requests.Count);
    }

    [Fact]
    public async Task NextPageOnAnotherHost_OrEndlessPages_OrJunk_AreRefused()
    {
        await using FaultServer elsewhere = await FaultServer.StartAsync(async context =>
        {
            context.Response.Headers.Link = "<http://127.0.0.2:1/v2/library/m/tags/list?last=a>; rel=\"next\"";
            await context.Response.WriteAsync("""{"tags":["a"]}""");
        });
        var name = ModelName.Parse($"http://{elsewhere.HostAndPort}/library/m");
        var error = await Assert.ThrowsAsync<RegistryProtocolException>(() => Registries.Create().ListTagsAsync(name, TestContext.Current.CancellationToken));
        Assert.Contains("another host", error.Message, StringComparison.Ordinal);

        await using FaultServer junk = await FaultServer.StartAsync(context => context.Response.WriteAsync("<html>"));
        name = ModelName.Parse($"http://{junk.HostAndPort}/library/m");
        error = await Assert.ThrowsAsync<RegistryProtocolException>(() => Registries.Create().ListTagsAsync(name, TestContext.Current.CancellationToken));
        Assert.Contains("not valid JSON", error.Message, StringComparison.Ordinal);
    }
}
