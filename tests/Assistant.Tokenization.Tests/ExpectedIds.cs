namespace Assistant.Tokenization.Tests;

// The shape of Fixtures/expected-ids.json, written by Reference/compute-expected-ids.mjs.
public sealed record ExpectedIdsFile(string Generator, Dictionary<string, ExpectedIdsForTokenizer> Tokenizers);

public sealed record ExpectedIdsForTokenizer(string Package, List<ExpectedIds> Samples, List<ExpectedIds> SpecialSamples, List<ExpectedIds> WithBos);

public sealed record ExpectedIds(string Text, int[] Ids);
