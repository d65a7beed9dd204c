package io.loraplex.engine.tokenizer;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The {@code post_processor} of tokenizer.json, for a single sequence: which special tokens go
 * around it when the caller asks for special tokens. (Offsets, type ids and pairs are not needed
 * here, so ByteLevel's offset trimming is a no-op.)
 */
sealed interface PostProcessor {

    int[] process(int[] ids);

    String SUPPORTED = "TemplateProcessing, ByteLevel, Sequence, BertProcessing, RobertaProcessing";

    static PostProcessor parse(Json json) throws IOException {
        if (json.isAbsentOrNull()) {
            return null;
        }
        String type = json.type();
        return switch (type) {
            case "TemplateProcessing" -> Template.parse(json);
            case "ByteLevel" -> new Identity();
            case "Sequence" -> {
                List<PostProcessor> steps = new ArrayList<>();
                for (Json step : json.elements("processors")) {
                    steps.add(parse(step));
                }
                yield new Sequence(List.copyOf(steps));
            }
            case "BertProcessing", "RobertaProcessing" ->
                    new Template(java.util.Arrays.asList(new int[] {tokenId(json.required("cls"))}, null, new int[] {tokenId(json.required("sep"))}));
            default -> throw json.unsupported("post_processor", type, SUPPORTED);
        };
    }

    /** The id of a {@code ["<s>", 0]} pair. */
    private static int tokenId(Json pair) throws IOException {
        var parts = pair.elements();
        if (parts.size() != 2) {
            throw pair.error("expected [token, id]");
        }
        return parts.get(1).asInt();
    }

    record Identity() implements PostProcessor {
        @Override
        public int[] process(int[] ids) {
            return ids;
        }
    }

    record Sequence(List<PostProcessor> steps) implements PostProcessor {
        @Override
        public int[] process(int[] ids) {
            for (PostProcessor p : steps) {
                ids = p.process(ids);
            }
            return ids;
        }
    }

    /**
     * The {@code single} template: each item is either the ids of a special token or (null) the
     * sequence itself.
     */
    record Template(List<int[]> items) implements PostProcessor {

        static Template parse(Json json) throws IOException {
            Json specials = json.required("special_tokens");
            List<int[]> items = new ArrayList<>();
            for (Json item : json.elements("single")) {
                if (item.has("Sequence")) {
                    String id = item.get("Sequence").string("id");
                    if (!id.equals("A")) {
                        throw item.error("a single-sequence template can only hold sequence A, found " + id);
                    }
                    items.add(null);
                } else if (item.has("SpecialToken")) {
                    String name = item.get("SpecialToken").string("id");
                    if (!specials.has(name)) {
                        throw item.error("special token '" + name + "' is missing from special_tokens");
                    }
                    List<Json> ids = specials.get(name).elements("ids");
                    int[] values = new int[ids.size()];
                    for (int i = 0; i < values.length; i++) {
                        values[i] = ids.get(i).asInt();
                    }
                    items.add(values);
                } else {
                    throw item.error("expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
                }
            }
            return new Template(items);
        }

        @Override
        public int[] process(int[] ids) {
            IntList out = new IntList(ids.length + 4);
            for (int[] item : items) {
                out.addAll(item == null ? ids : item);
            }
            return out.toArray();
        }
    }
}
