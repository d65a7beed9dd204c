package io.loraplex.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraplex.engine.model.BaseModel;
import io.loraplex.engine.model.WeightFormat;
import io.loraplex.engine.sample.GenerationDefaults;
import io.loraplex.engine.tokenizer.ChatTemplate;
import io.loraplex.engine.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Everything a server needs of one base model directory: the weights, the tokenizer, the chat
 * template, the sampling defaults of {@code generation_config.json} and the tokens that end a
 * generation (config.json's, generation_config.json's and the tokenizer's together).
 */
public final class ServedModel implements AutoCloseable {

    public static final String GENERATION_CONFIG = "generation_config.json";

    private final String id;
    private final BaseModel model;
    private final Tokenizer tokenizer;
    private final ChatTemplate chatTemplate; // null when the model has none
    private final GenerationDefaults defaults;
    private final List<Integer> eosIds;

    private ServedModel(String id, BaseModel model, Tokenizer tokenizer, ChatTemplate chatTemplate, GenerationDefaults defaults,
            List<Integer> eosIds) {
        this.id = id;
        this.model = model;
        this.tokenizer = tokenizer;
        this.chatTemplate = chatTemplate;
        this.defaults = defaults;
        this.eosIds = List.copyOf(eosIds);
    }

    /** Loads {@code dir}; {@code id} is the name clients use for the base model (null: the directory's name). */
    public static ServedModel load(Path dir, String id) throws IOException {
        return load(dir, id, null);
    }

    /** As {@link #load(Path, String)}, with the projections in {@code weights} (null: the checkpoint's own dtype). */
    public static ServedModel load(Path dir, String id, WeightFormat weights) throws IOException {
        BaseModel model = BaseModel.load(dir, weights);
        try {
            Tokenizer tokenizer = Tokenizer.load(dir);
            Optional<ChatTemplate> template = ChatTemplate.load(dir);
            Path genFile = dir.resolve(GENERATION_CONFIG);
            GenerationDefaults defaults = GenerationDefaults.NONE;
            Set<Integer> eos = new LinkedHashSet<>(model.config().eosTokenIds());
            for (int e : tokenizer.eosIds()) {
                eos.add(e);
            }
            if (Files.exists(genFile)) {
                ObjectMapper json = new ObjectMapper();
                @SuppressWarnings("unchecked")
                Map<String, Object> map = json.readValue(genFile.toFile(), Map.class);
                try {
                    defaults = GenerationDefaults.fromGenerationConfig(map);
                } catch (IllegalArgumentException e) {
                    throw new IOException(genFile + ": " + e.getMessage(), e);
                }
                JsonNode e = json.readTree(genFile.toFile()).get("eos_token_id");
                if (e != null && e.isArray()) {
                    e.forEach(n -> eos.add(n.asInt()));
                } else if (e != null && e.canConvertToInt()) {
                    eos.add(e.asInt());
                }
            }
            String name = id != null ? id : dir.toAbsolutePath().normalize().getFileName().toString();
            return new ServedModel(name, model, tokenizer, template.orElse(null), defaults, new ArrayList<>(eos));
        } catch (IOException | RuntimeException e) {
            model.close();
            throw e;
        }
    }

    /** The name clients give as {@code model} for the base. */
    public String id() {
        return id;
    }

    public BaseModel model() {
        return model;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    public Optional<ChatTemplate> chatTemplate() {
        return Optional.ofNullable(chatTemplate);
    }

    public GenerationDefaults defaults() {
        return defaults;
    }

    public List<Integer> eosIds() {
        return eosIds;
    }

    @Override
    public void close() {
        model.close();
    }
}
