package io.loraplex.engine.tokenizer;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * A model's Jinja chat template, rendered as HF transformers' {@code apply_chat_template} renders
 * it (see {@link JinjaEnvironment} for how Jinjava is made to behave like Jinja2 there). The
 * context holds {@code messages}, {@code add_generation_prompt}, the special tokens of
 * tokenizer_config.json ({@code bos_token}, {@code eos_token}, ...) and whatever extra variables
 * the caller passes ({@code tools}, {@code date_string}).
 *
 * <p>Where the template lives, in transformers' order: {@code chat_template.jinja},
 * {@code chat_template.json}, then {@code chat_template} of tokenizer_config.json (a string, or a
 * list of {@code {name, template}} of which {@code default} is used).
 */
public final class ChatTemplate {

    static final String JINJA_FILE = "chat_template.jinja";
    static final String JSON_FILE = "chat_template.json";

    private static final Jinjava JINJAVA = JinjaEnvironment.create();

    private final String template;           // Jinja source as rewritten for Jinjava (JinjaSource)
    private final String source;             // where it came from, for messages
    private final Map<String, String> specialTokens;
    private final Clock clock;
    /** Whether the template reads a {@code tools} variable (else tools are written into the messages: {@link ToolPrompt}). */
    private final boolean takesTools;
    /**
     * Whether the template writes calls in Mistral's {@code [TOOL_CALLS]} format, whose templates raise
     * unless a call's id is 9 letters or digits: OpenAI's ids ({@code call_} and 24 more) are then
     * rendered as {@link #mistralId}s.
     */
    private final boolean mistralIds;

    private ChatTemplate(String template, String source, Map<String, String> specialTokens, Clock clock) {
        this.takesTools = template.contains("tools");
        this.mistralIds = template.contains("[TOOL_CALLS]");
        this.template = JinjaSource.rewrite(template);
        this.source = source;
        this.specialTokens = Map.copyOf(specialTokens);
        this.clock = clock;
    }

    /**
     * A template from source text; {@code bosToken}/{@code eosToken} may be null (then the template
     * sees them undefined, as transformers leaves unset tokens out).
     */
    public static ChatTemplate of(String template, String bosToken, String eosToken) {
        Map<String, String> tokens = new HashMap<>();
        if (bosToken != null) {
            tokens.put("bos_token", bosToken);
        }
        if (eosToken != null) {
            tokens.put("eos_token", eosToken);
        }
        return new ChatTemplate(template, "chat template", tokens, Clock.systemDefaultZone());
    }

    /** The template of {@code modelDir}, or empty when it has none. */
    public static Optional<ChatTemplate> load(Path modelDir) throws IOException {
        TokenizerConfig config = TokenizerConfig.read(modelDir);
        Map<String, String> tokens = new HashMap<>();
        putIfSet(tokens, "bos_token", config.bosToken());
        putIfSet(tokens, "eos_token", config.eosToken());
        putIfSet(tokens, "unk_token", config.unkToken());
        putIfSet(tokens, "pad_token", config.padToken());
        Path jinja = modelDir.resolve(JINJA_FILE);
        if (Files.isRegularFile(jinja)) {
            return Optional.of(new ChatTemplate(Files.readString(jinja), jinja.toString(), tokens, Clock.systemDefaultZone()));
        }
        Path json = modelDir.resolve(JSON_FILE);
        if (Files.isRegularFile(json)) {
            Json root = Json.read(json);
            return Optional.of(new ChatTemplate(fromJson(root.required("chat_template")), json.toString(), tokens, Clock.systemDefaultZone()));
        }
        if (config.chatTemplate() == null) {
            return Optional.empty();
        }
        return Optional.of(new ChatTemplate(fromJson(config.chatTemplate()), config.configFile().toString(), tokens,
                Clock.systemDefaultZone()));
    }

    private static void putIfSet(Map<String, String> tokens, String name, String value) {
        if (value != null) {
            tokens.put(name, value);
        }
    }

    /** A template string, or the {@code default} of a list of named templates. */
    private static String fromJson(Json value) throws IOException {
        if (value.node().isTextual()) {
            return value.node().asText();
        }
        if (value.node().isArray()) {
            List<String> names = new ArrayList<>();
            for (Json named : value.elements()) {
                String name = named.string("name");
                if (name.equals("default")) {
                    return named.string("template");
                }
                names.add(name);
            }
            throw value.error("no template named 'default' among " + names);
        }
        throw value.error("expected a template string or a list of {name, template}, found " + value.node().getNodeType());
    }

    /** The same template reading the time of {@code strftime_now} from {@code clock}. */
    ChatTemplate withClock(Clock clock) {
        return new ChatTemplate(template, source, specialTokens, clock);
    }

    /** Where the template came from (a file, or "chat template"). */
    public String source() {
        return source;
    }

    public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        return render(messages, null, addGenerationPrompt);
    }

    /** Whether the template renders {@code tools} and tool messages itself (Llama 3.1, Qwen2.5, Mistral do). */
    public boolean takesTools() {
        return takesTools;
    }

    /**
     * Renders a chat with the tools it may call. A template that takes {@code tools} gets them as
     * transformers passes them (a list of {@code {"type": "function", "function": {...}}}) and the
     * messages' {@code tool_calls} with their arguments as objects, as transformers expects; any other
     * template gets plain messages in which {@link ToolPrompt} wrote the tools, the calls and their results.
     *
     * @param toolsJson a JSON array of tools in OpenAI's shape, or null for none
     * @throws IllegalArgumentException when {@code toolsJson} is not a JSON array
     */
    public String render(List<ChatMessage> messages, String toolsJson, boolean addGenerationPrompt) {
        List<Object> tools = toolsJson == null ? null : ToolPrompt.parseTools(toolsJson);
        boolean toolUse = tools != null || messages.stream().anyMatch(ChatMessage::usesTools);
        if (toolUse && !takesTools) {
            messages = ToolPrompt.inline(messages, toolsJson == null ? null : tools);
        }
        List<Map<String, Object>> maps = new ArrayList<>(messages.size());
        for (ChatMessage m : messages) {
            Map<String, Object> map = new LinkedHashMap<>();
            map.put("role", m.role());
            map.put("content", m.content());
            // only fields that are set: templates test "'tool_calls' in message" and "message.name is defined"
            if (!m.toolCalls().isEmpty()) {
                List<Map<String, Object>> calls = ToolPrompt.toolCallMaps(m.toolCalls());
                if (mistralIds) {
                    calls.forEach(call -> call.put("id", mistralId((String) call.get("id"))));
                }
                map.put("tool_calls", calls);
            }
            if (m.toolCallId() != null) {
                map.put("tool_call_id", mistralIds ? mistralId(m.toolCallId()) : m.toolCallId());
            }
            if (m.name() != null) {
                map.put("name", m.name());
            }
            maps.add(map);
        }
        return render(maps, addGenerationPrompt, tools != null && takesTools ? Map.of("tools", tools) : Map.of());
    }

    /**
     * A call id as Mistral's templates take it: itself when it is 9 letters or digits, else 9 derived
     * from its SHA-256, so a call and the tool message answering it still carry the same id.
     */
    static String mistralId(String id) {
        if (id.length() == 9 && id.chars().allMatch(c -> c < 128 && Character.isLetterOrDigit(c))) {
            return id;
        }
        byte[] hash;
        try {
            hash = java.security.MessageDigest.getInstance("SHA-256").digest(id.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every JDK", e);
        }
        String alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        char[] out = new char[9];
        for (int i = 0; i < out.length; i++) {
            out[i] = alphabet.charAt((hash[i] & 0xff) % alphabet.length());
        }
        return new String(out);
    }

    /**
     * Renders messages given as maps (for fields beyond role and content, such as
     * {@code tool_calls}) with extra context variables ({@code tools}, {@code date_string}, ...).
     *
     * @throws ChatTemplateException when the template raises (its message is kept) or fails to render
     */
    public String render(List<? extends Map<String, ?>> messages, boolean addGenerationPrompt, Map<String, ?> extraContext) {
        Objects.requireNonNull(messages, "messages");
        Map<String, Object> context = new HashMap<>(specialTokens);
        context.putAll(extraContext);
        context.put("messages", messages);
        context.put("add_generation_prompt", addGenerationPrompt);
        // A value under the function's name makes "strftime_now is defined" true, as for a Jinja2 global.
        context.put("strftime_now", "strftime_now");
        context.put("raise_exception", "raise_exception");
        context.put(JinjaEnvironment.CLOCK, clock);
        RenderResult result = JINJAVA.renderForResult(template, context);
        List<TemplateError> fatal = result.getErrors().stream()
                .filter(e -> e.getSeverity() == TemplateError.ErrorType.FATAL).toList();
        for (TemplateError e : fatal) {
            for (Throwable t = e.getException(); t != null; t = t.getCause()) {
                if (t instanceof JinjaEnvironment.Raised raised) {
                    throw new ChatTemplateException(source, raised.getMessage(), null);
                }
            }
        }
        if (!fatal.isEmpty()) {
            TemplateError first = fatal.getFirst();
            throw new ChatTemplateException(source, "line " + first.getLineno() + ": " + first.getMessage()
                    + (fatal.size() > 1 ? " (and " + (fatal.size() - 1) + " more errors)" : ""), first.getException());
        }
        return result.getOutput();
    }
}
