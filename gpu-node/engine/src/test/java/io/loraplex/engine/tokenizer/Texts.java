package io.loraplex.engine.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** Inputs that tend to break tokenizers, and random strings over an alphabet of such pieces. */
final class Texts {

    private Texts() {
    }

    static final List<String> HAND_PICKED = List.of(
            "", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\n \n", "\t\t x",
            "Hello world", " Hello world", "Hello world ", "  leading two", "trailing two  ", "Hello  world   again",
            "a\tb\tc", "line1\nline2\r\nline3\n\n\nline6", "I'm, you're, they've, she'll, he'd, it's, we'RE, I'M, 'S",
            "The year 2024 has 366 days; 1234567890 123 4567", "3.14159 and 1,000,000 and -42 and 0x1F",
            "café naïve résumé façade coöperate jalapeño", "Zürich Kraków São Paulo Malmö", "ß ẞ ø þ ð ı ş",
            "e\u0301 combining acute, n\u0303 o\u0308 a\u030a, \u0301 alone", "ﬁ ligature Ⅻ ½ ① ² ＡＢＣ",
            "İstanbul ΣΑΣ σας", "今天天气很好，我们去公园散步吧。", "東京の朝はとても忙しいです", "오늘은 비가 와서",
            "😀🎉🎉 👍🏽 👨‍👩‍👧 🇫🇷🇯🇵 ❤️ ☔️", "mixed 中文 and English 😀 text 123",
            "<|begin_of_text|>Hello<|eot_id|>", "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
            "<s>[INST] hi [/INST]</s>", " <s> spaced </s> ", "<s><s></s></s>", "x<s>y", "<unk>",
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", "<|im_start|><|im_end|>", "<|eot_id|><|eot_id|>",
            "<s", "<|im_start", "½the Ⅻthe the_the the1 x\u200dthe e\u0301the (the) the", "hello world helloworld  hello  world ",
            "say <sep> now, <sep>> or <sep>>>", "foo bar foo  bar baz  baz", "<|endoftext|>", "tab\tand\u00a0nbsp\u2003em space\u3000ideographic",
            "\u0000 nul \u0007 bell \u001f unit", "▁already▁has▁metaspace", "Ġbyte Ċlevel", "<0x41> looks like a byte",
            "x".repeat(300), "ab".repeat(200) + " " + "9".repeat(50),
            "def f(x):\n    return x * 2  # double\n\nprint(f(21))\n",
            "{\"name\": \"loraplex\", \"limits\": [16, 32], \"ok\": true}",
            "if (a <= b && b != c || !flag) { return a->next; }",
            "The harbour town woke slowly. Fishermen carried crates of ice down the stone steps, and the baker "
                    + "pulled the first trays of bread from an oven that had been burning since four in the morning.",
            "\"Are you coming to the meeting tonight?\"\n\"I don't know. What's it about?\"");

    private static final String[] ALPHABET = {
            "a", "b", "e", "t", "h", "The", "the", " ", " ", "  ", "\t", "\n", "\r\n", ".", ",", "!", "?", "'", "'s", "'ll",
            "\"", "-", "_", "(", ")", "{", "}", "<", ">", "|", "/", "0", "1", "7", "42", "2024", "é", "è", "ß", "ø", "Ω",
            "中", "文", "日", "本", "한", "😀", "👍", "🇫🇷", "‍", "\u0301", "\u00a0", "\u3000", "▁", "Ġ", "<s>", "</s>",
            "<unk>", "<|eot_id|>", "<|begin_of_text|>", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "hello", "world", "Hello",
    };

    /** {@code count} random strings of 0 to 24 alphabet pieces, fixed by {@code seed}. */
    static List<String> random(int count, long seed) {
        Random random = new Random(seed);
        List<String> out = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            StringBuilder s = new StringBuilder();
            int n = random.nextInt(25);
            for (int j = 0; j < n; j++) {
                s.append(ALPHABET[random.nextInt(ALPHABET.length)]);
            }
            out.add(s.toString());
        }
        return out;
    }

    static List<String> all(int randomCount, long seed) {
        List<String> out = new ArrayList<>(HAND_PICKED);
        out.addAll(random(randomCount, seed));
        return out;
    }
}
