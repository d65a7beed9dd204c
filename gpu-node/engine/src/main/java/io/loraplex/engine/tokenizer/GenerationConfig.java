package io.loraplex.engine.tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.OptionalInt;

/**
 * The model's own generation defaults from {@code generation_config.json}. Fields the file leaves
 * out (or sets to null) are empty; without the file everything is empty ({@link #EMPTY}).
 *
 * @param bosTokenId        {@code bos_token_id}
 * @param eosTokenIds       {@code eos_token_id}, one id or a list (Llama 3 Instruct lists end of
 *                          text, end of message and end of turn); generation stops at any of them
 * @param temperature       {@code temperature}
 * @param topP              {@code top_p}
 * @param topK              {@code top_k}
 * @param repetitionPenalty {@code repetition_penalty}
 * @param maxNewTokens      {@code max_new_tokens}
 * @param doSample          {@code do_sample}; false means greedy decoding
 */
public record GenerationConfig(OptionalInt bosTokenId, List<Integer> eosTokenIds, OptionalDouble temperature,
                               OptionalDouble topP, OptionalInt topK, OptionalDouble repetitionPenalty,
                               OptionalInt maxNewTokens, Optional<Boolean> doSample) {

    public static final String FILE = "generation_config.json";

    public static final GenerationConfig EMPTY = new GenerationConfig(OptionalInt.empty(), List.of(), OptionalDouble.empty(),
            OptionalDouble.empty(), OptionalInt.empty(), OptionalDouble.empty(), OptionalInt.empty(), Optional.empty());

    public GenerationConfig {
        eosTokenIds = List.copyOf(eosTokenIds);
    }

    /** Reads {@code generation_config.json} of {@code modelDir}; {@link #EMPTY} when there is none. */
    public static GenerationConfig load(Path modelDir) throws IOException {
        Path file = modelDir.resolve(FILE);
        if (!Files.isRegularFile(file)) {
            return EMPTY;
        }
        Json root = Json.read(file);
        if (!root.node().isObject()) {
            throw root.error("expected a JSON object, found " + root.node().getNodeType());
        }
        return new GenerationConfig(integer(root, "bos_token_id"), ids(root, "eos_token_id"), real(root, "temperature"),
                real(root, "top_p"), integer(root, "top_k"), real(root, "repetition_penalty"),
                integer(root, "max_new_tokens"), root.has("do_sample") ? Optional.of(root.bool("do_sample", false)) : Optional.empty());
    }

    private static OptionalInt integer(Json root, String field) throws IOException {
        return root.has(field) ? OptionalInt.of(root.get(field).asInt()) : OptionalInt.empty();
    }

    private static OptionalDouble real(Json root, String field) throws IOException {
        if (!root.has(field)) {
            return OptionalDouble.empty();
        }
        Json value = root.get(field);
        if (!value.node().isNumber()) {
            throw value.error("expected a number, found " + value.node().getNodeType());
        }
        return OptionalDouble.of(value.node().doubleValue());
    }

    private static List<Integer> ids(Json root, String field) throws IOException {
        if (!root.has(field)) {
            return List.of();
        }
        Json value = root.get(field);
        List<Integer> out = new ArrayList<>();
        if (value.node().isArray()) {
            for (Json id : value.elements()) {
                out.add(id.asInt());
            }
        } else {
            out.add(value.asInt());
        }
        return out;
    }
}
