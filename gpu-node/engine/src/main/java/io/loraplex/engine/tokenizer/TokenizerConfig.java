package io.loraplex.engine.tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What transformers keeps beside tokenizer.json: {@code tokenizer_config.json} (special token
 * names, {@code add_bos_token}, the chat template) with {@code special_tokens_map.json} filling
 * the special tokens it leaves out. Either file may be absent.
 *
 * @param files        the files read, in reading order
 * @param configFile   tokenizer_config.json when present, else null
 * @param bosToken     nullable
 * @param eosToken     nullable
 * @param unkToken     nullable
 * @param padToken     nullable
 * @param addBosToken  null when the config does not say
 * @param addEosToken  null when the config does not say
 * @param chatTemplate the raw {@code chat_template} member, or null
 */
record TokenizerConfig(List<Path> files, Path configFile, String bosToken, String eosToken, String unkToken,
                       String padToken, Boolean addBosToken, Boolean addEosToken, Json chatTemplate) {

    static final String CONFIG = "tokenizer_config.json";
    static final String SPECIAL_TOKENS_MAP = "special_tokens_map.json";

    static TokenizerConfig read(Path dir) throws IOException {
        List<Path> files = new ArrayList<>();
        Json config = null;
        Path configFile = dir.resolve(CONFIG);
        if (Files.isRegularFile(configFile)) {
            config = object(Json.read(configFile));
            files.add(configFile);
        } else {
            configFile = null;
        }
        Json map = null;
        Path mapFile = dir.resolve(SPECIAL_TOKENS_MAP);
        if (Files.isRegularFile(mapFile)) {
            map = object(Json.read(mapFile));
            files.add(mapFile);
        }
        return new TokenizerConfig(List.copyOf(files), configFile,
                token(config, map, "bos_token"), token(config, map, "eos_token"),
                token(config, map, "unk_token"), token(config, map, "pad_token"),
                flag(config, "add_bos_token"), flag(config, "add_eos_token"),
                config != null && config.has("chat_template") ? config.get("chat_template") : null);
    }

    private static Json object(Json json) throws IOException {
        if (!json.node().isObject()) {
            throw json.error("expected a JSON object, found " + json.node().getNodeType());
        }
        return json;
    }

    /** A special token from the config, else from the map; either a string or an AddedToken object. */
    private static String token(Json config, Json map, String field) throws IOException {
        for (Json source : new Json[] {config, map}) {
            if (source == null || !source.node().has(field)) {
                continue;
            }
            Json value = source.get(field);
            if (value.node().isNull()) {
                return null;
            }
            if (value.node().isTextual()) {
                return value.node().asText();
            }
            if (value.node().isObject()) {
                return value.string("content");
            }
            throw value.error("expected a string, an object with 'content', or null");
        }
        return null;
    }

    private static Boolean flag(Json config, String field) throws IOException {
        return config != null && config.has(field) ? config.bool(field, false) : null;
    }
}
