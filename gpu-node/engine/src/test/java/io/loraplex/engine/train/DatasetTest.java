package io.loraplex.engine.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.engine.tokenizer.ChatStyle;
import io.loraplex.engine.tokenizer.ChatTemplate;
import io.loraplex.engine.tokenizer.Tokenizer;
import io.loraplex.engine.tokenizer.TinyTokenizer;
import io.loraplex.engine.tokenizer.TokenizerKind;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Each bad dataset refused with its line number and reason; the loss mask covers the assistant's tokens only. */
class DatasetTest {

    static final String GOOD = "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Hello\"}]}";

    @TempDir
    static Path dir;
    static ExampleEncoder encoder;
    static Tokenizer tokenizer;
    static ChatTemplate template;

    @BeforeAll
    static void tokenizer() throws Exception {
        TinyTokenizer.write(dir, TokenizerKind.BYTE_LEVEL, ChatStyle.LLAMA3, 512, 1);
        tokenizer = Tokenizer.load(dir);
        template = ChatTemplate.load(dir).orElseThrow();
        encoder = new ExampleEncoder(template, tokenizer);
    }

    @ParameterizedTest(name = "{1}")
    @CsvSource(delimiter = '|', value = {
            "{\"messages\": [oops | bad JSON",
            "[1, 2] | bad JSON: expected an object",
            "{\"messages\": [{\"role\": \"bot\", \"content\": \"x\"}]} | message 1 has unknown role \"bot\"",
            "{\"messages\": [{\"content\": \"x\"}]} | message 1 has no \"role\"",
            "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]} | missing role: no assistant message",
            "{\"messages\": [{\"role\": \"assistant\", \"content\": \"x\"}]} | message 1: an assistant message before any user message",
            "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}, {\"role\": \"assistant\", \"content\": \"  \"}]} | message 2: empty assistant answer",
            "{\"instruction\": \"x\", \"input\": \"\", \"output\": \"\"} | empty answer: \"output\" is blank",
            "{\"instruction\": \"\", \"output\": \"y\"} | \"instruction\" must be a non-empty string",
            "{\"prompt\": \"x\", \"completion\": \"y\"} | expected {\"messages\": [...]} or {\"instruction\", \"input\", \"output\"}",
            "{\"messages\": []} | \"messages\" must be a non-empty array",
    })
    void refusesWithLineAndReason(String bad, String reason) {
        Dataset.Parsed parsed = Dataset.parse(GOOD + "\n\n" + GOOD + "\n" + bad + "\n" + GOOD + "\n");
        assertEquals(1, parsed.problems().size(), parsed.problems().toString());
        Dataset.Problem p = parsed.problems().getFirst();
        assertEquals(4, p.line(), "blank lines count: the bad example is on line 4");
        assertTrue(p.message().startsWith(reason.trim()), p.toString());
        assertEquals(3, parsed.examples().size());
        assertEquals(List.of(1, 3, 5), parsed.examples().stream().map(Dataset.Example::line).toList());
    }

    @Test
    void refusesExamplesLongerThanTheContext() {
        String longAnswer = "word ".repeat(200).trim();
        Dataset.Parsed parsed = Dataset.parse(GOOD + "\n{\"instruction\": \"Say it\", \"output\": \"" + longAnswer + "\"}\n");
        Dataset.Encoded encoded = Dataset.encode(parsed.examples(), encoder, 64);
        assertEquals(1, encoded.examples().size());
        Dataset.Problem p = encoded.problems().getFirst();
        assertEquals(2, p.line());
        assertTrue(p.message().matches("the example is \\d+ tokens, longer than the model's context of 64"), p.message());
    }

    @Test
    void warnsUnderTenExamplesAndRefusesAnEmptyFile() {
        assertEquals(List.of("only 2 examples; LoRA usually needs at least 10"), Dataset.parse(GOOD + "\n" + GOOD).warnings());
        assertEquals(List.of(), Dataset.parse((GOOD + "\n").repeat(10)).warnings());
        assertEquals("no examples (the file is empty)", Dataset.parse("\n").problems().getFirst().message());
    }

    @Test
    void lossMaskCoversEveryAssistantTurnAndNothingElse() {
        String chat = "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Hi\"},"
                + " {\"role\": \"assistant\", \"content\": \" Hello \"}, {\"role\": \"user\", \"content\": \"Bye\"},"
                + " {\"role\": \"assistant\", \"content\": \"Ciao\"}]}";
        Dataset.Example example = Dataset.parse(chat).examples().getFirst();
        EncodedExample e = encoder.encode(example);
        // the whole conversation tokenizes to the same text the template renders
        assertEquals(template.render(example.messages(), false), tokenizer.decode(e.tokens(), false));
        StringBuilder trained = new StringBuilder();
        for (int t = 0; t < e.tokens().length; t++) {
            if (e.target()[t]) {
                trained.append(tokenizer.decode(new int[] {e.tokens()[t]}, false));
            }
        }
        // the template trims the content; each turn's end-of-turn token is learned too
        assertEquals("Hello<|eot_id|>Ciao<|eot_id|>", trained.toString());
        // the prompt of the first turn is tokenized exactly as serving tokenizes it
        int[] prompt = tokenizer.encode(template.render(example.messages().subList(0, 2), true), false);
        assertEquals(java.util.Arrays.toString(prompt), java.util.Arrays.toString(java.util.Arrays.copyOf(e.tokens(), prompt.length)));
        assertTrue(!e.target()[prompt.length - 1] && e.target()[prompt.length]);
    }
}
