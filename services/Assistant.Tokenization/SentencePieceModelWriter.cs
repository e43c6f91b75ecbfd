namespace Assistant.Tokenization;

/// <summary>
/// Writes a SentencePiece <c>tokenizer.model</c> (a <c>ModelProto</c>) for a SentencePiece-style BPE
/// that a folder ships only as <c>tokenizer.json</c>, so <see cref="Microsoft.ML.Tokenizers.LlamaTokenizer"/>
/// can run it. SentencePiece merges the adjacent pair whose joined piece scores highest, so each piece
/// scores minus the rank of the first <c>tokenizer.json</c> merge that builds it; the merge order is kept.
/// </summary>
internal static class SentencePieceModelWriter
{
    // Field numbers from sentencepiece_model.proto.
    private const int ModelPieces = 1, ModelTrainerSpec = 2, ModelNormalizerSpec = 3;
    private const int PieceText = 1, PieceScore = 2, PieceType = 3;
    private const int TrainerModelType = 3, TrainerVocabSize = 4, TrainerByteFallback = 35;
    private const int TrainerUnkId = 40, TrainerBosId = 41, TrainerEosId = 42, TrainerPadId = 43;
    private const int NormalizerName = 1, NormalizerAddDummyPrefix = 3, NormalizerRemoveExtraWhitespaces = 4, NormalizerEscapeWhitespaces = 5;

    // SentencePiece.Type and TrainerSpec.ModelType values.
    private const int Normal = 1, Unknown = 2, Control = 3, Byte = 6;
    private const int BpeModel = 2;

    public static byte[] Write(TokenizerJson json, string bosPiece, string eosPiece)
    {
        var pieces = new string?[json.Vocab.Count == 0 ? 0 : json.Vocab.Values.Max() + 1];
        foreach (var (piece, id) in json.Vocab)
        {
            pieces[id] = piece;
        }

        var missing = Array.IndexOf(pieces, null);
        if (missing >= 0)
        {
            throw new InvalidDataException($"the vocabulary has no token with id {missing}; SentencePiece needs ids 0..{pieces.Length - 1}");
        }

        var firstMergeRank = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var rank = 0; rank < json.Merges.Count; rank++)
        {
            firstMergeRank.TryAdd(json.Merges[rank].Replace(" ", string.Empty, StringComparison.Ordinal), rank);
        }

        var control = json.AddedTokens.Where(t => t.IsSpecial).Select(t => t.Content).ToHashSet(StringComparer.Ordinal);
        var model = new ProtobufWriter();
        foreach (var piece in pieces)
        {
            var entry = new ProtobufWriter();
            entry.WriteString(PieceText, piece!);
            var (type, score) = piece switch
            {
                _ when piece == json.UnkToken => (Unknown, 0f),
                _ when control.Contains(piece!) => (Control, 0f),
                _ when json.ByteFallback && IsBytePiece(piece!) => (Byte, 0f),
                _ => (Normal, firstMergeRank.TryGetValue(piece!, out var rank) ? -rank : -json.Merges.Count),
            };
            entry.WriteFloat(PieceScore, score);
            entry.WriteInt(PieceType, type);
            model.WriteMessage(ModelPieces, entry);
        }

        var trainer = new ProtobufWriter();
        trainer.WriteInt(TrainerModelType, BpeModel);
        trainer.WriteInt(TrainerVocabSize, pieces.Length);
        trainer.WriteBool(TrainerByteFallback, json.ByteFallback);
        trainer.WriteInt(TrainerUnkId, json.UnkToken is { } unk && json.Vocab.TryGetValue(unk, out var unkId) ? unkId : 0);
        trainer.WriteInt(TrainerBosId, json.Vocab.GetValueOrDefault(bosPiece, -1));
        trainer.WriteInt(TrainerEosId, json.Vocab.GetValueOrDefault(eosPiece, -1));
        trainer.WriteInt(TrainerPadId, -1);
        model.WriteMessage(ModelTrainerSpec, trainer);

        var normalizer = new ProtobufWriter();
        normalizer.WriteString(NormalizerName, "identity");
        normalizer.WriteBool(NormalizerAddDummyPrefix, json.DummyPrefix);
        normalizer.WriteBool(NormalizerRemoveExtraWhitespaces, false);
        normalizer.WriteBool(NormalizerEscapeWhitespaces, true);
        model.WriteMessage(ModelNormalizerSpec, normalizer);
        return model.ToArray();
    }

    /// <summary>Byte-fallback pieces are written "&lt;0xAB&gt;".</summary>
    public static bool IsBytePiece(string piece) =>
        piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece[5] == '>' && Uri.IsHexDigit(piece[3]) && Uri.IsHexDigit(piece[4]);
}
