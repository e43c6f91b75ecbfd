using static TorchSharp.torch;

namespace Assistant.Modeling.Tests;

/// <summary>Logits against the independent PyTorch implementation in Reference/make_fixtures.py.</summary>
public class ReferenceLogitsTests
{
    const float Tolerance = 1e-4f;

    public static TheoryData<string> FixtureNames => new(Fixtures.Names);

    [Theory]
    [MemberData(nameof(FixtureNames))]
    public void Logits_match_the_pytorch_reference(string fixture)
    {
        using var scope = NewDisposeScope();
        using var model = HfCheckpoint.Load(Fixtures.Folder(fixture));
        var (ids, expected) = Fixtures.Expected(fixture);
        // Logits spread well beyond the tolerance, so a wrong kernel cannot hide under it.
        Assert.True(expected.std().item<float>() > 0.5f);

        using var _ = no_grad();
        var logits = model.forward(ids);
        Assert.Equal(expected.shape, logits.shape);
        var diff = TensorAssert.MaxAbsDiff(logits, expected);
        Assert.True(diff < Tolerance, $"{fixture}: max |logits - reference| = {diff}");
    }

    [Fact]
    public void Llama3_rope_scaling_changes_the_logits()
    {
        // Guards the fixture itself: without the llama3 adjustment the model must disagree with the reference.
        using var scope = NewDisposeScope();
        var folder = Fixtures.Folder("llama_tied_llama3");
        var config = (LlamaConfig)ModelConfig.Load(folder);
        using var unscaled = (config with { RopeScaling = null }).CreateModel();
        HfCheckpoint.LoadWeights(unscaled, folder);
        unscaled.eval();
        var (ids, expected) = Fixtures.Expected("llama_tied_llama3");
        using var _ = no_grad();
        Assert.True(TensorAssert.MaxAbsDiff(unscaled.forward(ids), expected) > 1e-2f);
    }

    [Fact]
    public void Llama3_inverse_frequencies_keep_short_slow_long_and_blend_between()
    {
        var config = (LlamaConfig)ModelConfig.Load(Fixtures.Folder("llama_tied_llama3"));
        var scaled = LlamaRotaryEmbedding.InverseFrequencies(config);
        var plain = LlamaRotaryEmbedding.InverseFrequencies(config with { RopeScaling = null });
        // head_dim 16, theta 5e5, original context 32: wavelengths below 8 are kept, above 32 divided by 8.
        for (var i = 0; i < plain.Length; i++)
        {
            var wavelength = 2 * Math.PI / plain[i];
            if (wavelength < 8) Assert.Equal(plain[i], scaled[i]);
            else if (wavelength > 32) Assert.Equal(plain[i] / 8, scaled[i], 6);
            else Assert.InRange(scaled[i], plain[i] / 8, plain[i]);
        }
        Assert.Contains(plain, f => 2 * Math.PI / f < 8);
        Assert.Contains(plain, f => 2 * Math.PI / f > 32);
    }
}
