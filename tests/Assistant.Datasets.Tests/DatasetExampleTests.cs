using Assistant.Tokenization;

namespace Assistant.Datasets.Tests;

public sealed class DatasetExampleTests
{
    [Fact]
    public void Each_format_parses_to_its_normalized_record()
    {
        var chat = DatasetExample.Parse("""{"messages":[{"role":"system","content":"S"},{"role":"user","content":"Q"},{"role":"assistant","content":"A"}]}""");
        var contextResponse = DatasetExample.Parse("""{"context":"C","response":"R"}""");
        var promptCompletion = DatasetExample.Parse("""{"prompt":"P","completion":"X"}""");
        var alpaca = DatasetExample.Parse("""{"instruction":"I","input":"In","output":"O"}""");
        var text = DatasetExample.Parse("""{"text":"T"}""");

        Assert.Equal((DatasetFormat.Chat, "Q", "A"), (chat.Format, chat.Prompt, chat.AssistantAnswer));
        Assert.Equal(3, chat.Messages!.Count);
        Assert.Equal((DatasetFormat.ContextResponse, "C", "R"), (contextResponse.Format, contextResponse.Prompt, contextResponse.AssistantAnswer));
        Assert.Equal((DatasetFormat.PromptCompletion, "P", "X"), (promptCompletion.Format, promptCompletion.Prompt, promptCompletion.AssistantAnswer));
        Assert.Equal((DatasetFormat.Alpaca, "I", "In", "O"), (alpaca.Format, alpaca.Prompt, alpaca.Input, alpaca.AssistantAnswer));
        Assert.Equal([ChatMessage.FromUser("I\n\nIn"), ChatMessage.FromAssistant("O")], alpaca.Conversation);
        Assert.Equal((DatasetFormat.Text, "T", null, ""), (text.Format, text.Text, text.Prompt, text.AssistantAnswer));
        Assert.Null(text.Conversation);
    }

    [Fact]
    public void ToJsonLine_writes_a_fixed_key_order_and_unescaped_unicode()
    {
        var chat = DatasetExample.Parse("""{ "messages" : [ {"content": "Прив\u0435т \"x\"", "role": "user"}, {"content":"ok","role":"assistant"} ], "id": 7 }""");
        var alpaca = DatasetExample.Parse("""{"output":"O","instruction":"I"}""");

        Assert.Equal("""{"messages":[{"role":"user","content":"Привет \"x\""},{"role":"assistant","content":"ok"}]}""", chat.ToJsonLine());
        Assert.Equal("""{"instruction":"I","input":"","output":"O"}""", alpaca.ToJsonLine());
        Assert.Equal("""{"context":"C","response":"R"}""", DatasetExample.ContextResponse("C", "R").ToJsonLine());
        Assert.Equal("""{"prompt":"P","completion":"X"}""", DatasetExample.PromptCompletion("P", "X").ToJsonLine());
        Assert.Equal("""{"text":"line\nbreak"}""", DatasetExample.FromText("line\nbreak").ToJsonLine());
    }

    [Theory]
    [InlineData("""{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}]}""")]
    [InlineData("""{"context":"Как дела?","response":"Хорошо"}""")]
    [InlineData("""{"prompt":"2+2=","completion":" 4"}""")]
    [InlineData("""{"instruction":"I","input":"","output":"O"}""")]
    [InlineData("""{"text":"tab\there, ☃ snowman, quote \" and backslash \\"}""")]
    [InlineData("""{"text":"emoji (outside the BMP) stays escaped: \uD83D\uDE00"}""")]
    public void A_canonical_line_round_trips(string line)
    {
        var example = DatasetExample.Parse(line);

        Assert.Equal(line, example.ToJsonLine());
        Assert.Equal(example, DatasetExample.Parse(example.ToJsonLine()));
    }

    [Fact]
    public void Records_are_equal_by_content_whatever_the_key_order_spacing_or_escapes()
    {
        var a = DatasetExample.Parse("""{"messages":[{"role":"user","content":"café"},{"role":"assistant","content":"ok"}]}""");
        var b = DatasetExample.Parse("""  {"messages": [ {"content": "caf\u00e9", "role": "user"}, {"content": "ok", "role": "assistant"} ]}  """);
        var c = DatasetExample.Parse("""{"messages":[{"role":"user","content":"cafe"},{"role":"assistant","content":"ok"}]}""");

        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.NotEqual(a, c);
        Assert.Equal(DatasetExample.Alpaca("I", null, "O"), DatasetExample.Alpaca("I", "", "O"));
    }

    [Fact]
    public void WithAssistantAnswer_replaces_the_last_answer_or_appends_one()
    {
        var chat = DatasetExample.Chat(ChatMessage.FromUser("Q1"), ChatMessage.FromAssistant("A1"), ChatMessage.FromUser("Q2"), ChatMessage.FromAssistant("A2"));
        var relabelled = chat.WithAssistantAnswer("better");

        Assert.Equal(["A1", "better"], relabelled.Messages!.Where(m => m.Role == ChatMessage.Assistant).Select(m => m.Content));
        Assert.Equal("A2", chat.AssistantAnswer); // the original is unchanged
        Assert.Equal(ChatMessage.FromAssistant("new"), DatasetExample.Chat(ChatMessage.FromUser("Q")).WithAssistantAnswer("new").Messages![^1]);
        Assert.Equal("""{"prompt":"P","completion":"Y"}""", DatasetExample.PromptCompletion("P", "X").WithAssistantAnswer("Y").ToJsonLine());
        Assert.Equal("""{"instruction":"I","input":"In","output":"Y"}""", DatasetExample.Alpaca("I", "In", "O").WithAssistantAnswer("Y").ToJsonLine());
        Assert.Throws<InvalidOperationException>(() => DatasetExample.FromText("T").WithAssistantAnswer("Y"));
    }

    [Theory]
    [InlineData("""{"messages":[{"role":"user","content":"Q"}]}""", null, "example_missing_assistant_message", "messages")]
    [InlineData("""{"messages":[{"role":"bot","content":"Q"}]}""", null, "unrecognized_role", "messages[0].role")]
    [InlineData("""{"prompt":"P"}""", null, "missing_field", "completion")]
    [InlineData("""{"text":"T"}""", DatasetFormat.Chat, "mixed_formats", null)]
    [InlineData("""not json""", null, "invalid_json", null)]
    [InlineData("""{"foo":1}""", null, "unknown_format", null)]
    [InlineData("""{"foo":1}""", DatasetFormat.PromptCompletion, "missing_field", "prompt")]
    public void Parse_throws_with_the_code_and_param(string line, DatasetFormat? expected, string code, string? param)
    {
        var error = Assert.Throws<DatasetFormatException>(() => DatasetExample.Parse(line, expected));

        Assert.Equal((code, param), (error.Code, error.Param));
        Assert.Equal(code, error.ToProblem().Code);
    }

    [Fact]
    public void An_expected_format_wins_over_the_precedence_of_keys()
    {
        const string line = """{"instruction":"I","output":"O","text":"rendered"}""";

        Assert.Equal(DatasetFormat.Alpaca, DatasetExample.Parse(line).Format);
        Assert.Equal("rendered", DatasetExample.Parse(line, DatasetFormat.Text).Text);
    }

    [Fact]
    public void Format_json_names_are_the_api_names()
    {
        Assert.Equal(["chat", "context_response", "prompt_completion", "alpaca", "text"], DatasetFormats.All.Select(f => f.ToJsonName()));
        Assert.Equal("\"context_response\"", System.Text.Json.JsonSerializer.Serialize(DatasetFormat.ContextResponse));
        Assert.Equal(DatasetFormat.PromptCompletion, System.Text.Json.JsonSerializer.Deserialize<DatasetFormat>("\"prompt_completion\""));
        Assert.True(DatasetFormats.TryParse("alpaca", out var alpaca) && alpaca == DatasetFormat.Alpaca);
        Assert.False(DatasetFormats.TryParse("Alpaca", out _));
    }
}
