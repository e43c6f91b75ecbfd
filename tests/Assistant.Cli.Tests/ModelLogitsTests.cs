using System.Text.Json;
using Assistant.Modeling;
using static TorchSharp.torch;

namespace Assistant.Cli.Tests;

public class ModelLogitsTests(StarterModels models)
{
    [Theory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void Logits_json_has_a_vocab_row_per_position_equal_to_a_direct_forward(string arch)
    {
        long[] ids = [256, 72, 105, 33, 260];
        var result = Cli.Ok("model", "logits", "--model", models.Folder(arch), "--ids", string.Join(",", ids));
        using var json = JsonDocument.Parse(result.Stdout);
        var rows = json.RootElement.GetProperty("logits").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray();

        float[] expected;
        using (var model = HfCheckpoint.Load(models.Folder(arch)))
        using (no_grad())
        using (NewDisposeScope())
            expected = model.forward(tensor(ids, [1, ids.Length])).data<float>().ToArray();

        Assert.Equal(ids.Length, rows.Length);
        Assert.All(rows, row => Assert.Equal(StarterVocabulary.Size, row.Length));
        var actual = rows.SelectMany(r => r).ToArray();
        Assert.True(actual.Zip(expected).Max(p => Math.Abs(p.First - p.Second)) <= 1e-6f);
        Assert.Equal(expected, actual); // shortest round-trip text parses back to the very same floats
    }

    [Fact]
    public void Ids_may_have_spaces_after_commas()
    {
        var spaced = Cli.Ok("model", "logits", "--model", models.Folder("gpt2"), "--ids", "1, 2,3").Stdout;
        Assert.Equal(Cli.Ok("model", "logits", "--model", models.Folder("gpt2"), "--ids", "1,2,3").Stdout, spaced);
    }
}
