package io.loraplex.engine.tokenizer;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.exptest.ExpTest;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import jinjava.javax.el.CompositeELResolver;

import java.time.Clock;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.Map;

/**
 * Jinjava set up like the Jinja2 environment of HF transformers' {@code apply_chat_template}:
 * {@code trim_blocks} and {@code lstrip_blocks}, {@code {{-}}/{@code -}}} trimming as in Jinja2,
 * Jinja2's operator precedence ({@code not a == b} is {@code not (a == b)}), loop controls (built
 * into Jinjava), the globals {@code raise_exception} and {@code strftime_now}, transformers'
 * {@code tojson}, Jinja2 3.1's {@code items} filter, Python's notion of {@code iterable} (strings
 * are), transformers' {@code {% generation %}} block, and Python string and dict methods
 * ({@link PythonMethods}).
 */
final class JinjaEnvironment {

    /** Context key of the {@link Clock} that {@code strftime_now} reads. */
    static final String CLOCK = "__loraplex_clock";

    private JinjaEnvironment() {
    }

    static Jinjava create() {
        CompositeELResolver resolver = new CompositeELResolver();
        resolver.add(new PythonMethods());
        resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
        JinjavaConfig config = JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(true)
                .withElResolver(resolver)
                .withLegacyOverrides(LegacyOverrides.newBuilder()
                        .withUseTrimmingForNotesAndExpressions(true)
                        .withUseNaturalOperatorPrecedence(true)
                        .withParseWhitespaceControlStrictly(true)
                        .withKeepNullableLoopValues(true)
                        .build())
                .build();
        Jinjava jinjava = new Jinjava(config);
        var globals = jinjava.getGlobalContext();
        globals.registerFunction(new ELFunctionDefinition("", "raise_exception", JinjaEnvironment.class, "raiseException", Object.class));
        globals.registerFunction(new ELFunctionDefinition("", "strftime_now", JinjaEnvironment.class, "strftimeNow", String.class));
        globals.registerFilter(new ToJson());
        globals.registerFilter(new Items());
        globals.registerExpTest(new Iterable());
        globals.registerTag(new Generation());
        return jinjava;
    }

    /** Thrown by {@code raise_exception}; the renderer finds it among Jinjava's errors. */
    static final class Raised extends RuntimeException {
        Raised(String message) {
            super(message, null, false, false);
        }
    }

    public static Object raiseException(Object message) {
        throw new Raised(String.valueOf(message));
    }

    public static String strftimeNow(String format) {
        Object clock = JinjavaInterpreter.getCurrent().getContext().get(CLOCK);
        return Strftime.format(LocalDateTime.now(clock instanceof Clock c ? c : Clock.systemDefaultZone()), format);
    }

    /** transformers' {@code tojson}: {@code json.dumps(x, ensure_ascii=False, indent, separators, sort_keys)}. */
    static final class ToJson implements Filter {
        @Override
        public String getName() {
            return "tojson";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            return filter(var, interpreter, args, Map.of());
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            Object indent = kwargs.containsKey("indent") ? kwargs.get("indent") : (args.length > 1 ? args[1] : null);
            if (args.length > 0 && args[0] != null && !kwargs.containsKey("ensure_ascii")) {
                kwargs = new java.util.HashMap<>(kwargs);
                kwargs.put("ensure_ascii", args[0]);
            }
            String itemSep = null;
            String keySep = null;
            if (kwargs.get("separators") instanceof java.util.List<?> seps && seps.size() == 2) {
                itemSep = String.valueOf(seps.get(0));
                keySep = String.valueOf(seps.get(1));
            }
            return new PythonJson(indent == null ? null : ((Number) indent).intValue(), itemSep, keySep,
                    Boolean.TRUE.equals(kwargs.get("sort_keys")), Boolean.TRUE.equals(kwargs.get("ensure_ascii"))).write(var);
        }
    }

    /** Jinja2 3.1's {@code items}: the (key, value) pairs of a mapping. */
    static final class Items implements Filter {
        @Override
        public String getName() {
            return "items";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            return var instanceof Map<?, ?> map ? new ArrayList<>(map.entrySet()) : new ArrayList<>();
        }
    }

    /**
     * transformers' {@code {% generation %}...{% endgeneration %}} (its AssistantTracker extension)
     * marks assistant text for training masks; rendering, it only outputs its body.
     */
    static final class Generation implements com.hubspot.jinjava.lib.tag.Tag {
        @Override
        public String getName() {
            return "generation";
        }

        @Override
        public String getEndTagName() {
            return "endgeneration";
        }

        @Override
        public String interpret(com.hubspot.jinjava.tree.TagNode tagNode, JinjavaInterpreter interpreter) {
            StringBuilder out = new StringBuilder();
            for (com.hubspot.jinjava.tree.Node child : tagNode.getChildren()) {
                out.append(child.render(interpreter).getValue());
            }
            return out.toString();
        }
    }

    /** Python's iterability: strings, mappings, lists and arrays. */
    static final class Iterable implements ExpTest {
        @Override
        public String getName() {
            return "iterable";
        }

        @Override
        public boolean evaluate(Object var, JinjavaInterpreter interpreter, Object... args) {
            return var instanceof CharSequence || var instanceof com.hubspot.jinjava.objects.SafeString
                    || var instanceof java.lang.Iterable<?> || var instanceof Map<?, ?> || (var != null && var.getClass().isArray());
        }
    }
}
