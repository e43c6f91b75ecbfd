namespace Assistant.Tokenization;

/// <summary>A piece of a rendered conversation.</summary>
internal readonly record struct TemplateSegment(string Text, SegmentKind Kind)
{
    public bool AllowsSpecialTokens => Kind is SegmentKind.Markup or SegmentKind.AssistantEnd;

    public bool IsTrained => Kind is SegmentKind.AssistantContent or SegmentKind.AssistantEnd;
}
