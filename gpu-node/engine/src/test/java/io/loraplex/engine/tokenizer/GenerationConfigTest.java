package io.loraplex.engine.tokenizer;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.OptionalInt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GenerationConfigTest {

    private static Path write(String json) throws IOException {
        Path dir = TinyFixtures.scratch("generation");
        Files.writeString(dir.resolve(GenerationConfig.FILE), json);
        return dir;
    }

    @Test
    void readsLlama3InstructStyleFile() throws IOException {
        GenerationConfig c = GenerationConfig.load(write("""
                {"bos_token_id": 128000, "do_sample": true, "eos_token_id": [128001, 128008, 128009],
                 "temperature": 0.6, "top_p": 0.9, "transformers_version": "4.45.0.dev0"}"""));
        assertEquals(OptionalInt.of(128000), c.bosTokenId());
        assertEquals(List.of(128001, 128008, 128009), c.eosTokenIds());
        assertEquals(OptionalDouble.of(0.6), c.temperature());
        assertEquals(OptionalDouble.of(0.9), c.topP());
        assertEquals(Optional.of(true), c.doSample());
        assertEquals(OptionalInt.empty(), c.topK());
        assertEquals(OptionalDouble.empty(), c.repetitionPenalty());
        assertEquals(OptionalInt.empty(), c.maxNewTokens());
    }

    @Test
    void singleEosIdAndIntegerTemperature() throws IOException {
        GenerationConfig c = GenerationConfig.load(write("""
                {"eos_token_id": 2, "temperature": 1, "top_k": 40, "repetition_penalty": 1.1,
                 "max_new_tokens": 256, "do_sample": false, "pad_token_id": null}"""));
        assertEquals(List.of(2), c.eosTokenIds());
        assertEquals(OptionalDouble.of(1.0), c.temperature());
        assertEquals(OptionalInt.of(40), c.topK());
        assertEquals(OptionalDouble.of(1.1), c.repetitionPenalty());
        assertEquals(OptionalInt.of(256), c.maxNewTokens());
        assertEquals(Optional.of(false), c.doSample());
    }

    @Test
    void nullsAndAbsentFileAreEmpty() throws IOException {
        assertEquals(GenerationConfig.EMPTY, GenerationConfig.load(TinyFixtures.scratch("none")));
        assertEquals(GenerationConfig.EMPTY, GenerationConfig.load(write("{\"eos_token_id\": null, \"temperature\": null}")));
    }

    @Test
    void wrongTypesNameTheFileAndField() throws IOException {
        Path dir = write("{\"temperature\": \"hot\"}");
        IOException e = assertThrows(IOException.class, () -> GenerationConfig.load(dir));
        assertTrue(e.getMessage().contains(GenerationConfig.FILE) && e.getMessage().contains("$.temperature")
                && e.getMessage().contains("expected a number"), e.getMessage());
        IOException ids = assertThrows(IOException.class, () -> GenerationConfig.load(write("{\"eos_token_id\": [1, \"x\"]}")));
        assertTrue(ids.getMessage().contains("$.eos_token_id[1]") && ids.getMessage().contains("expected an integer"), ids.getMessage());
        IOException malformed = assertThrows(IOException.class, () -> GenerationConfig.load(write("{\"top_k\": 4")));
        assertTrue(malformed.getMessage().contains("malformed JSON"), malformed.getMessage());
    }
}
