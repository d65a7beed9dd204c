package io.loraplex.engine.train;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraplex.engine.tokenizer.ChatMessage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * A training dataset in JSONL: one example a line, either chat {@code {"messages": [{"role",
 * "content"}, ...]}} (system, user and assistant, several turns allowed) or {@code {"instruction",
 * "input", "output"}}. {@link #parse} collects every problem with its line instead of stopping at
 * the first, so an upload can be checked and reported in one go; {@link #encode} adds the checks
 * that need the model (its chat template, its context length).
 */
public final class Dataset {

    /** Fewer examples than this get a warning: LoRA learns little from less. */
    public static final int FEW_EXAMPLES = 10;

    private static final Set<String> ROLES = Set.of("system", "user", "assistant");
    private static final ObjectMapper JSON = new ObjectMapper();

    /** One refused line and why. */
    public record Problem(int line, String message) {
        @Override
        public String toString() {
            return "line " + line + ": " + message;
        }
    }

    /** One example as read: its line and its conversation. */
    public record Example(int line, List<ChatMessage> messages) {
        public Example {
            messages = List.copyOf(messages);
        }
    }

    /** What {@link #parse} found: the good examples, the problems, and warnings that refuse nothing. */
    public record Parsed(List<Example> examples, List<Problem> problems, List<String> warnings) {
        public Parsed {
            examples = List.copyOf(examples);
            problems = List.copyOf(problems);
            warnings = List.copyOf(warnings);
        }
    }

    /** What {@link #encode} produced: examples ready to train on, and the examples it refused. */
    public record Encoded(List<EncodedExample> examples, List<Problem> problems) {
        public Encoded {
            examples = List.copyOf(examples);
            problems = List.copyOf(problems);
        }
    }

    /** A dataset refused: every problem, one a line. */
    public static final class DatasetException extends Exception {
        private final List<Problem> problems;

        public DatasetException(String source, List<Problem> problems) {
            super(source + ": " + problems.size() + (problems.size() == 1 ? " problem" : " problems") + "\n  "
                    + String.join("\n  ", problems.stream().map(Problem::toString).toList()));
            this.problems = List.copyOf(problems);
        }

        public List<Problem> problems() {
            return problems;
        }
    }

    private Dataset() {
    }

    /** Reads and parses {@code file}. */
    public static Parsed read(Path file) throws IOException {
        try {
            return parse(Files.readString(file, StandardCharsets.UTF_8));
        } catch (NoSuchFileException e) {
            throw new IOException(file + ": file not found", e);
        }
    }

    /** Parses JSONL text; blank lines are skipped. */
    public static Parsed parse(String jsonl) {
        List<Example> examples = new ArrayList<>();
        List<Problem> problems = new ArrayList<>();
        String[] lines = jsonl.split("\\R", -1);
        for (int i = 0; i < lines.length; i++) {
            if (lines[i].isBlank()) {
                continue;
            }
            int line = i + 1;
            try {
                examples.add(new Example(line, example(lines[i])));
            } catch (IllegalArgumentException e) {
                problems.add(new Problem(line, e.getMessage()));
            }
        }
        List<String> warnings = new ArrayList<>();
        if (examples.isEmpty() && problems.isEmpty()) {
            problems.add(new Problem(0, "no examples (the file is empty)"));
        } else if (examples.size() < FEW_EXAMPLES) {
            warnings.add("only " + examples.size() + " examples; LoRA usually needs at least " + FEW_EXAMPLES);
        }
        return new Parsed(examples, problems, warnings);
    }

    /**
     * Renders and tokenizes each example; refuses those the chat template rejects and those longer
     * than {@code maxTokens}.
     */
    public static Encoded encode(List<Example> examples, ExampleEncoder encoder, int maxTokens) {
        List<EncodedExample> out = new ArrayList<>();
        List<Problem> problems = new ArrayList<>();
        for (Example e : examples) {
            EncodedExample encoded;
            try {
                encoded = encoder.encode(e);
            } catch (IllegalArgumentException ex) {
                problems.add(new Problem(e.line(), ex.getMessage()));
                continue;
            }
            if (encoded.tokens().length > maxTokens) {
                problems.add(new Problem(e.line(), "the example is " + encoded.tokens().length
                        + " tokens, longer than the model's context of " + maxTokens));
            } else {
                out.add(encoded);
            }
        }
        return new Encoded(out, problems);
    }

    private static List<ChatMessage> example(String text) {
        JsonNode root;
        try {
            root = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("bad JSON: " + e.getOriginalMessage());
        }
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException("bad JSON: expected an object, found " + (root == null ? "nothing" : root.getNodeType()));
        }
        if (root.has("messages")) {
            return chat(root.get("messages"));
        }
        if (root.has("instruction") || root.has("output")) {
            return instruction(root);
        }
        throw new IllegalArgumentException("expected {\"messages\": [...]} or {\"instruction\", \"input\", \"output\"}, found keys "
                + iterableToList(root.fieldNames()));
    }

    private static List<ChatMessage> chat(JsonNode list) {
        if (!list.isArray() || list.isEmpty()) {
            throw new IllegalArgumentException("\"messages\" must be a non-empty array of {\"role\", \"content\"}");
        }
        List<ChatMessage> messages = new ArrayList<>();
        boolean user = false;
        boolean assistant = false;
        for (int i = 0; i < list.size(); i++) {
            JsonNode m = list.get(i);
            String where = "message " + (i + 1);
            if (!m.isObject()) {
                throw new IllegalArgumentException(where + " is not an object");
            }
            JsonNode role = m.get("role");
            if (role == null || role.isNull()) {
                throw new IllegalArgumentException(where + " has no \"role\"");
            }
            if (!role.isTextual() || !ROLES.contains(role.asText())) {
                throw new IllegalArgumentException(where + " has unknown role " + role + " (use system, user or assistant)");
            }
            JsonNode content = m.get("content");
            if (content == null || !content.isTextual()) {
                throw new IllegalArgumentException(where + " (" + role.asText() + ") needs a string \"content\"");
            }
            switch (role.asText()) {
                case "system" -> {
                    if (i > 0) {
                        throw new IllegalArgumentException(where + ": a system message may only come first");
                    }
                }
                case "user" -> user = true;
                default -> {
                    if (!user) {
                        throw new IllegalArgumentException(where + ": an assistant message before any user message");
                    }
                    if (content.asText().isBlank()) {
                        throw new IllegalArgumentException(where + ": empty assistant answer");
                    }
                    assistant = true;
                }
            }
            messages.add(new ChatMessage(role.asText(), content.asText()));
        }
        if (!user) {
            throw new IllegalArgumentException("missing role: no user message");
        }
        if (!assistant) {
            throw new IllegalArgumentException("missing role: no assistant message (nothing to learn)");
        }
        return messages;
    }

    private static List<ChatMessage> instruction(JsonNode root) {
        JsonNode instruction = root.get("instruction");
        JsonNode input = root.get("input");
        JsonNode output = root.get("output");
        if (instruction == null || !instruction.isTextual() || instruction.asText().isBlank()) {
            throw new IllegalArgumentException("\"instruction\" must be a non-empty string");
        }
        if (input != null && !input.isNull() && !input.isTextual()) {
            throw new IllegalArgumentException("\"input\" must be a string");
        }
        if (output == null || !output.isTextual()) {
            throw new IllegalArgumentException("\"output\" must be a string (the answer)");
        }
        if (output.asText().isBlank()) {
            throw new IllegalArgumentException("empty answer: \"output\" is blank");
        }
        String prompt = instruction.asText();
        if (input != null && input.isTextual() && !input.asText().isBlank()) {
            prompt = prompt + "\n\n" + input.asText();
        }
        return List.of(new ChatMessage("user", prompt), new ChatMessage("assistant", output.asText()));
    }

    private static List<String> iterableToList(java.util.Iterator<String> it) {
        List<String> out = new ArrayList<>();
        it.forEachRemaining(out::add);
        return out;
    }
}
