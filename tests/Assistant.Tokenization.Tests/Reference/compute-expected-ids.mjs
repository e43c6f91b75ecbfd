// Computes the expected ids fixture with transformers.js' tokenizers (@lenml/tokenizers), an
// implementation independent of Microsoft.ML.Tokenizers. Usage (from this folder):
//   npm install && node compute-expected-ids.mjs
// Writes ../Fixtures/expected-ids.json. Samples are plain text; "special" samples contain special-token
// strings that transformers.js always recognises as single ids (our Encode(text, allowSpecialTokens: true)).
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const nodePath = (process.env.NODE_PATH ?? path.join(here, "node_modules")).split(path.delimiter)[0];
const require = createRequire(path.join(nodePath, "noop.js"));
const { TokenizerLoader } = require("@lenml/tokenizers");

function load(pkg) {
  const dir = path.join(nodePath, "@lenml", pkg, "models");
  const read = (name) => JSON.parse(fs.readFileSync(path.join(dir, name), "utf8"));
  return TokenizerLoader.fromPreTrained({ tokenizerJSON: read("tokenizer.json"), tokenizerConfig: read("tokenizer_config.json") });
}

const samples = [
  "Hello world",
  "Hello, world! How are you today?",
  "The quick brown fox jumps over the lazy dog.",
  "I'm sure they'll say it's fine; we've DONE it, haven't we? YOU'RE right, I'D agree.",
  "Numbers: 1 12 123 1234 12345 1234567890 3.14159 -42 1e-5 0x1F",
  "Привет, мир! Как дела? Съешь же ещё этих мягких французских булок.",
  "Обучение языковой модели на русском тексте: токенизация, словарь, ёжик.",
  "Tiếng Việt là ngôn ngữ chính thức của Việt Nam, nhiều người dùng nó.",
  "Evlerden ve okullardan geliyorlar; bu iş gerekmektedir.",
  "Řekl, že jeho auto je rychlé.",
  "你好，世界！今天天气很好。",
  "日本語のテキスト、カタカナとひらがな。",
  "한국어 문장입니다.",
  "مرحبا بالعالم",
  "שלום עולם",
  "नमस्ते दुनिया",
  "Γειά σου Κόσμε",
  "สวัสดีชาวโลก",
  "Emoji: 😀 👍🏽 ❤️ 🇷🇺 👨‍👩‍👧‍👦 🤖",
  "😀😀😀",
  "café naïve résumé façade Ångström",
  "e\u0301 combining accent and precomposed é",
  "def add(a, b):\n    return a + b\n",
  "public static int Main(string[] args)\n{\n\tConsole.WriteLine(\"hi\");\n\treturn 0;\n}",
  "for (int i = 0; i < n; ++i) { sum += x[i] * y[i]; }",
  "{\"role\": \"user\", \"content\": \"Hi\"}",
  "<div class=\"note\">Hello &amp; welcome</div>",
  "https://example.com/path?query=1&lang=ru#top",
  "user@example.com",
  "a  b   c    d",
  "   leading spaces",
  "trailing spaces   ",
  "\t\ttabs\tand\ttext",
  "line one\nline two\n\nline four\n\n\n",
  "windows\r\nline\r\nendings",
  " ",
  "  ",
  "\n",
  "x",
  "aaaaaaaaaaaaaaaaaaaaaaaaa",
  "!!!!!!!!!!",
  "----------------------------------------",
  "==========",
  "........",
  "hmmmmmmmmm",
  "zzzzzzzzzzzzzzzz",
  "MixedCase camelCaseIdentifier snake_case_name SCREAMING_CASE",
  "Supercalifragilisticexpialidocious antidisestablishmentarianism",
  "$100 + 20% = ? € £ ¥ © ® ™ ± × ÷ ≠ ≤ ≥ ∞ √ π",
  "# Heading\n\n- item one\n- item **bold** and _italic_\n\n```python\nprint('x')\n```",
  "Tab\tseparated\tvalues\n1\t2\t3",
  "Zero\u200Bwidth and non\u00A0breaking space",
  "### Контекст: Как сбросить пароль?\n### Ответ ассистента: Откройте настройки.",
];

// Special-token strings inside text, per tokenizer (recognised as single ids).
const specialSamples = {
  llama3: [
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
    "text<|eot_id|>more text<|end_of_text|>",
  ],
  llama2: [
    "<s>[INST] Hi there! [/INST] Hello! </s>",
    "a<s>b</s>c",
  ],
};

function encodeAll(tok, texts) {
  return texts.map((text) => ({ text, ids: Array.from(tok.encode(text, { add_special_tokens: false })) }));
}

const fixture = { generator: "@lenml/tokenizers 3.7.2 (transformers.js tokenizers)", tokenizers: {} };
for (const [name, pkg] of [["llama3", "tokenizer-llama3"], ["llama2", "tokenizer-llama2"]]) {
  const tok = load(pkg);
  fixture.tokenizers[name] = {
    package: `@lenml/${pkg}@3.7.2`,
    samples: encodeAll(tok, samples),
    specialSamples: encodeAll(tok, specialSamples[name]),
    withBos: encodeAll({ encode: (t) => tok.encode(t) }, ["Hello world"]),
  };
}

// One sample per line keeps the fixture reviewable in a diff.
function formatFixture(f) {
  const lines = (list) => list.map((s) => "        " + JSON.stringify(s)).join(",\n");
  const parts = Object.entries(f.tokenizers).map(([name, t]) =>
    `    ${JSON.stringify(name)}: {\n      "package": ${JSON.stringify(t.package)},\n` +
    ["samples", "specialSamples", "withBos"].map((k) => `      ${JSON.stringify(k)}: [\n${lines(t[k])}\n      ]`).join(",\n") +
    "\n    }");
  return `{\n  "generator": ${JSON.stringify(f.generator)},\n  "tokenizers": {\n${parts.join(",\n")}\n  }\n}\n`;
}

const out = path.join(here, "..", "Fixtures", "expected-ids.json");
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, formatFixture(fixture));
console.log(`wrote ${out}: ${samples.length} samples per tokenizer`);
