package io.loraplex.engine.tokenizer;

import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

import java.beans.FeatureDescriptor;
import java.lang.reflect.Array;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * The Python {@code str} and {@code dict} methods chat templates call ({@code content.strip()},
 * {@code role.upper()}, {@code name.startswith('x')}, {@code args.items()}), which Jinjava would
 * otherwise look up as Java methods and miss or get subtly wrong ({@code String.split} takes a
 * regex, {@code String.strip} another notion of whitespace), and Python string indexing
 * ({@code role[0]}), which Jinjava does not do. Consulted before Jinjava's own resolvers; anything
 * it does not know falls through to them.
 */
final class PythonMethods extends ELResolver {

    @Override
    public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
        if (!(method instanceof String name)) {
            return null;
        }
        Object[] args = params == null ? new Object[0] : params;
        Object result = NOT_HANDLED;
        if (base instanceof String || base instanceof com.hubspot.jinjava.objects.SafeString) {
            result = stringMethod(base.toString(), name, args);
        } else if (base instanceof Map<?, ?> map) {
            result = dictMethod(map, name, args);
        }
        if (result == NOT_HANDLED) {
            return null;
        }
        context.setPropertyResolved(true);
        return result;
    }

    private static final Object NOT_HANDLED = new Object();

    private static Object stringMethod(String s, String name, Object[] args) {
        return switch (name) {
            case "strip" -> strip(s, arg(args, 0), true, true);
            case "lstrip" -> strip(s, arg(args, 0), true, false);
            case "rstrip" -> strip(s, arg(args, 0), false, true);
            case "upper" -> s.toUpperCase(java.util.Locale.ROOT);
            case "lower" -> s.toLowerCase(java.util.Locale.ROOT);
            case "title" -> title(s);
            case "capitalize" -> s.isEmpty() ? s : s.substring(0, s.offsetByCodePoints(0, 1)).toUpperCase(java.util.Locale.ROOT)
                    + s.substring(s.offsetByCodePoints(0, 1)).toLowerCase(java.util.Locale.ROOT);
            case "startswith" -> anyOf(args.length > 0 ? args[0] : null, s::startsWith);
            case "endswith" -> anyOf(args.length > 0 ? args[0] : null, s::endsWith);
            case "split" -> split(s, arg(args, 0), args.length > 1 ? ((Number) args[1]).intValue() : -1);
            case "splitlines" -> s.lines().toList();
            case "replace" -> replace(s, String.valueOf(args[0]), String.valueOf(args[1]),
                    args.length > 2 ? ((Number) args[2]).intValue() : -1);
            case "find" -> (long) s.indexOf(String.valueOf(args[0]));
            case "rfind" -> (long) s.lastIndexOf(String.valueOf(args[0]));
            case "count" -> count(s, String.valueOf(args[0]));
            case "join" -> join(s, args[0]);
            case "isspace" -> !s.isEmpty() && s.codePoints().allMatch(PythonMethods::isSpace);
            case "isdigit" -> !s.isEmpty() && s.codePoints().allMatch(Character::isDigit);
            case "isalpha" -> !s.isEmpty() && s.codePoints().allMatch(Character::isLetter);
            case "isalnum" -> !s.isEmpty() && s.codePoints().allMatch(Character::isLetterOrDigit);
            case "isupper" -> !s.equals(s.toLowerCase(java.util.Locale.ROOT)) && s.equals(s.toUpperCase(java.util.Locale.ROOT));
            case "islower" -> !s.equals(s.toUpperCase(java.util.Locale.ROOT)) && s.equals(s.toLowerCase(java.util.Locale.ROOT));
            default -> NOT_HANDLED;
        };
    }

    private static Object dictMethod(Map<?, ?> map, String name, Object[] args) {
        return switch (name) {
            case "items" -> new ArrayList<>(map.entrySet());
            case "keys" -> new ArrayList<>(map.keySet());
            case "values" -> new ArrayList<>(map.values());
            case "get" -> map.containsKey(args[0]) ? map.get(args[0]) : (args.length > 1 ? args[1] : null);
            default -> NOT_HANDLED;
        };
    }

    private static String arg(Object[] args, int i) {
        return args.length > i && args[i] != null ? args[i].toString() : null;
    }

    /** Python's {@code str.isspace} per character: Zs, or bidi class WS, B or S. */
    static boolean isSpace(int cp) {
        return Character.isWhitespace(cp) || cp == 0x85 || cp == 0xA0 || cp == 0x2007 || cp == 0x202F;
    }

    private static String strip(String s, String chars, boolean left, boolean right) {
        int start = 0;
        int end = s.length();
        while (left && start < end && stripped(s.codePointAt(start), chars)) {
            start += Character.charCount(s.codePointAt(start));
        }
        while (right && end > start && stripped(s.codePointBefore(end), chars)) {
            end -= Character.charCount(s.codePointBefore(end));
        }
        return s.substring(start, end);
    }

    private static boolean stripped(int cp, String chars) {
        return chars == null ? isSpace(cp) : chars.indexOf(cp) >= 0;
    }

    private static String title(String s) {
        StringBuilder out = new StringBuilder(s.length());
        boolean previousCased = false;
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            out.appendCodePoint(previousCased ? Character.toLowerCase(cp) : Character.toTitleCase(cp));
            previousCased = Character.isLetter(cp);
            i += Character.charCount(cp);
        }
        return out.toString();
    }

    /** {@code startswith}/{@code endswith} take one string or a tuple of them. */
    private static boolean anyOf(Object arg, java.util.function.Predicate<String> test) {
        if (arg instanceof Iterable<?> options) {
            for (Object o : options) {
                if (test.test(String.valueOf(o))) {
                    return true;
                }
            }
            return false;
        }
        return test.test(String.valueOf(arg));
    }

    /** Python's {@code split}: by runs of whitespace (dropping empty ends) without a separator, else literally. */
    private static List<String> split(String s, String sep, int maxSplit) {
        List<String> out = new ArrayList<>();
        if (sep == null) {
            int i = 0;
            while (i < s.length()) {
                while (i < s.length() && isSpace(s.codePointAt(i))) {
                    i += Character.charCount(s.codePointAt(i));
                }
                if (i >= s.length()) {
                    break;
                }
                if (maxSplit >= 0 && out.size() == maxSplit) {
                    out.add(strip(s.substring(i), null, false, true));
                    return out;
                }
                int start = i;
                while (i < s.length() && !isSpace(s.codePointAt(i))) {
                    i += Character.charCount(s.codePointAt(i));
                }
                out.add(s.substring(start, i));
            }
            return out;
        }
        if (sep.isEmpty()) {
            throw new IllegalArgumentException("empty separator");
        }
        int start = 0;
        int at;
        while ((maxSplit < 0 || out.size() < maxSplit) && (at = s.indexOf(sep, start)) >= 0) {
            out.add(s.substring(start, at));
            start = at + sep.length();
        }
        out.add(s.substring(start));
        return out;
    }

    private static String replace(String s, String old, String replacement, int count) {
        if (count < 0) {
            return s.replace(old, replacement);
        }
        StringBuilder out = new StringBuilder();
        int start = 0;
        for (int n = 0; n < count; n++) {
            int at = s.indexOf(old, start);
            if (at < 0 || old.isEmpty()) {
                break;
            }
            out.append(s, start, at).append(replacement);
            start = at + old.length();
        }
        return out.append(s.substring(start)).toString();
    }

    private static long count(String s, String sub) {
        if (sub.isEmpty()) {
            return s.codePointCount(0, s.length()) + 1L;
        }
        long n = 0;
        for (int at = s.indexOf(sub); at >= 0; at = s.indexOf(sub, at + sub.length())) {
            n++;
        }
        return n;
    }

    private static String join(String separator, Object items) {
        List<String> parts = new ArrayList<>();
        if (items instanceof Iterable<?> it) {
            it.forEach(o -> parts.add(String.valueOf(o)));
        } else if (items != null && items.getClass().isArray()) {
            for (int i = 0; i < Array.getLength(items); i++) {
                parts.add(String.valueOf(Array.get(items, i)));
            }
        } else {
            parts.add(String.valueOf(items));
        }
        return String.join(separator, parts);
    }

    /** Python string indexing, {@code role[0]} and {@code content[-1]}; other properties are left to Jinjava. */
    @Override
    public Object getValue(ELContext context, Object base, Object property) {
        // Jinjava hands the index over as text ("0", "-1").
        if ((base instanceof String || base instanceof com.hubspot.jinjava.objects.SafeString)
                && property != null && property.toString().matches("-?\\d{1,9}")) {
            int index = Integer.parseInt(property.toString());
            int[] cps = base.toString().codePoints().toArray();
            int i = index < 0 ? cps.length + index : index;
            context.setPropertyResolved(true);
            return i >= 0 && i < cps.length ? Character.toString(cps[i]) : null;
        }
        return null;
    }

    @Override
    public Class<?> getType(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public void setValue(ELContext context, Object base, Object property, Object value) {
    }

    @Override
    public boolean isReadOnly(ELContext context, Object base, Object property) {
        return false;
    }

    @Override
    public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
        return null;
    }

    @Override
    public Class<?> getCommonPropertyType(ELContext context, Object base) {
        return null;
    }
}
