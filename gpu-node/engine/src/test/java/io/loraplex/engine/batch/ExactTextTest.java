package io.loraplex.engine.batch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.engine.ServedModel;
import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.Backends;
import io.loraplex.engine.model.Architecture;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.TinyModel;
import io.loraplex.engine.request.PreparedRequest;
import io.loraplex.engine.request.Prompt;
import io.loraplex.engine.request.RequestParams;
import io.loraplex.engine.request.RequestPreparation;
import io.loraplex.engine.tokenizer.ChatMessage;
import io.loraplex.engine.tokenizer.ChatStyle;
import io.loraplex.engine.tokenizer.Tokenizer;
import io.loraplex.engine.tokenizer.TokenizerKind;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The engine's text of a generation reads on from its prompt: the text of the prompt's tokens plus the
 * generated text is the text of all the tokens, for text, chat and token-id prompts, with a byte-level
 * and a SentencePiece-style (byte fallback) tokenizer.
 */
class ExactTextTest {

    @TempDir
    Path dir;

    @ParameterizedTest(name = "{0}/{1}")
    @CsvSource({"BYTE_LEVEL, LLAMA3", "BYTE_LEVEL, CHATML", "BYTE_FALLBACK, LLAMA2"})
    void promptTextPlusGeneratedTextIsTheTextOfAllTokens(TokenizerKind kind, ChatStyle style) throws Exception {
        Path modelDir = dir.resolve("model");
        TinyModel.write(modelDir, new TinyModel.Spec(Architecture.LLAMA, 64, 2, 4, 2, null, 160, 1200, DType.F32, null, null, 256,
                null, 0, kind, style, 1, 17));
        try (ServedModel model = ServedModel.load(modelDir, "tiny");
                Backend backend = Backends.create(Backends.CPU, model.model(), 2);
                Engine engine = new Engine(backend, model.tokenizer(), model.eosIds(),
                        EngineSettings.defaults().withMemoryBudgetBytes(32L << 20))) {
            Tokenizer tokenizer = model.tokenizer();
            RequestPreparation preparation = RequestPreparation.of(model, 24);
            RequestParams greedy = new RequestParams(0.0, null, null, null, null, null, null, Map.of(), 1L, 24, List.of(), List.of(),
                    true, false, 0);
            List<Prompt> prompts = List.of(new Prompt.Text("The cat sat on the"), new Prompt.Text("Once upon a time, in a"),
                    new Prompt.Text("café naïve 😀 and"), new Prompt.Tokens(tokenizer.encode("Hello world, how", false)),
                    new Prompt.Chat(List.of(new ChatMessage("user", "Where is the harbour?"))));
            int checked = 0;
            for (Prompt prompt : prompts) {
                PreparedRequest prepared = preparation.prepare(prompt, greedy);
                for (double temperature : new double[] {0.0, 1.0}) {
                    Collector c = new Collector();
                    engine.submit(EngineRequest.generate("exact-" + checked, EngineFixture.ALICE, null, prepared.prompt(),
                            prepared.params().toBuilder().temperature(temperature).build()), c);
                    c.await();
                    int[] generated = c.tokens().stream().mapToInt(Integer::intValue).toArray();
                    int[] all = IntStream.concat(Arrays.stream(prepared.prompt()), Arrays.stream(generated)).toArray();
                    String promptText = tokenizer.decode(prepared.prompt(), true);
                    assertEquals(tokenizer.decode(all, true), promptText + c.text, prompt + " at temperature " + temperature
                            + " generated " + Arrays.toString(generated));
                    checked++;
                }
            }
            assertTrue(checked == 2 * prompts.size());
        }
    }

    @ParameterizedTest(name = "{0}/{1}")
    @CsvSource({"BYTE_LEVEL, LLAMA3", "BYTE_FALLBACK, LLAMA2"})
    void theFirstGeneratedTokenKeepsItsLeadingSpace(TokenizerKind kind, ChatStyle style) throws Exception {
        Path modelDir = dir.resolve("model");
        TinyModel.write(modelDir, new TinyModel.Spec(Architecture.LLAMA, 64, 2, 4, 2, null, 160, 1200, DType.F32, null, null, 256,
                null, 0, kind, style, 1, 17));
        try (ServedModel model = ServedModel.load(modelDir, "tiny");
                Backend backend = Backends.create(Backends.CPU, model.model(), 2);
                Engine engine = new Engine(backend, model.tokenizer(), model.eosIds(),
                        EngineSettings.defaults().withMemoryBudgetBytes(32L << 20))) {
            Tokenizer tokenizer = model.tokenizer();
            int[] prompt = tokenizer.encode("The cat sat on the", true);
            int[] wanted = tokenizer.encode("The cat sat on the mat", true);
            assertEquals(Arrays.toString(prompt), Arrays.toString(Arrays.copyOf(wanted, prompt.length)), "the prompt's tokens lead");
            int mat = wanted[prompt.length]; // "Ġmat" or "▁mat" (or its first piece): a token that starts with a space
            // force the token: a bias no other logit reaches, then the model's own choice
            Collector c = new Collector();
            engine.submit(EngineRequest.generate("space", EngineFixture.ALICE, null, prompt, io.loraplex.engine.sample.SamplingParams
                    .builder().temperature(0).maxTokens(1).ignoreEos(true).logitBias(Map.of(mat, 100.0)).build()), c);
            c.await();
            assertEquals(List.of(mat), c.tokens());
            assertTrue(c.text.toString().startsWith(" m"), "the text of " + tokenizer.piece(mat) + " after the prompt: '" + c.text + "'");
        }
    }
}
