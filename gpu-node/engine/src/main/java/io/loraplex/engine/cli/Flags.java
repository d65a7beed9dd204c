package io.loraplex.engine.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Command-line flags of one command: declared up front with a default and a help line, parsed from
 * {@code --name value} / {@code --name=value} / {@code --switch}. Unknown flags and bad values are
 * refused with a message naming the flag.
 */
public final class Flags {

    /** A refusal of the command line, printed as is with the exit status 2. */
    public static final class UsageException extends RuntimeException {
        public UsageException(String message) {
            super(message);
        }
    }

    private record Spec(String name, String defaultValue, boolean isSwitch, boolean repeatable, String help) {
    }

    private final String command;
    private final String synopsis;
    private final Map<String, Spec> specs = new LinkedHashMap<>();
    private final Map<String, String> values = new LinkedHashMap<>();
    private final Map<String, List<String>> repeated = new LinkedHashMap<>();
    private final List<String> positional = new ArrayList<>();

    public Flags(String command, String synopsis) {
        this.command = command;
        this.synopsis = synopsis;
        flag("help", "print this help");
    }

    /** A flag with a value; {@code defaultValue} null means it has none. */
    public Flags option(String name, String defaultValue, String help) {
        specs.put(name, new Spec(name, defaultValue, false, false, help));
        return this;
    }

    /** A flag that may be given several times; {@link #strings} returns every value. */
    public Flags repeatable(String name, String help) {
        specs.put(name, new Spec(name, null, false, true, help + " (repeatable)"));
        return this;
    }

    /** A switch: present or not. */
    public Flags flag(String name, String help) {
        specs.put(name, new Spec(name, null, true, false, help));
        return this;
    }

    public Flags parse(String[] args) {
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (!arg.startsWith("--")) {
                positional.add(arg);
                continue;
            }
            String name = arg.substring(2);
            String value = null;
            int eq = name.indexOf('=');
            if (eq >= 0) {
                value = name.substring(eq + 1);
                name = name.substring(0, eq);
            }
            Spec spec = specs.get(name);
            if (spec == null) {
                throw new UsageException("loraplex " + command + ": unknown flag --" + name + " (see loraplex " + command + " --help)");
            }
            if (spec.isSwitch) {
                if (value != null) {
                    throw new UsageException("loraplex " + command + ": --" + name + " takes no value");
                }
                values.put(name, "true");
            } else {
                if (value == null) {
                    if (i + 1 >= args.length) {
                        throw new UsageException("loraplex " + command + ": --" + name + " needs a value");
                    }
                    value = args[++i];
                }
                values.put(name, value);
                if (spec.repeatable) {
                    repeated.computeIfAbsent(name, k -> new ArrayList<>()).add(value);
                }
            }
        }
        return this;
    }

    public boolean helpRequested() {
        return has("help");
    }

    public String usage() {
        StringBuilder sb = new StringBuilder("usage: loraplex " + command + " " + synopsis + "\n\nflags:\n");
        for (Spec s : specs.values()) {
            String left = "--" + s.name + (s.isSwitch ? "" : " " + s.name.toUpperCase().replace('-', '_'));
            sb.append(String.format("  %-30s %s%s%n", left, s.help, s.defaultValue == null ? "" : " (default " + s.defaultValue + ")"));
        }
        return sb.toString();
    }

    public boolean has(String name) {
        return values.containsKey(name);
    }

    /** Every value of a repeatable flag, in order. */
    public List<String> strings(String name) {
        return repeated.getOrDefault(name, List.of());
    }

    public List<String> positional() {
        return positional;
    }

    public String string(String name) {
        String v = values.get(name);
        if (v == null) {
            Spec spec = specs.get(name);
            v = spec == null ? null : spec.defaultValue;
        }
        return v;
    }

    public String required(String name) {
        String v = string(name);
        if (v == null) {
            throw new UsageException("loraplex " + command + ": --" + name + " is required (see loraplex " + command + " --help)");
        }
        return v;
    }

    public Path path(String name) {
        String v = string(name);
        return v == null ? null : Path.of(v);
    }

    public int integer(String name) {
        String v = required(name);
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new UsageException("loraplex " + command + ": --" + name + " must be an integer, got '" + v + "'");
        }
    }

    public long longValue(String name) {
        String v = required(name);
        try {
            return Long.parseLong(v);
        } catch (NumberFormatException e) {
            throw new UsageException("loraplex " + command + ": --" + name + " must be an integer, got '" + v + "'");
        }
    }

    public double decimal(String name) {
        String v = required(name);
        try {
            return Double.parseDouble(v);
        } catch (NumberFormatException e) {
            throw new UsageException("loraplex " + command + ": --" + name + " must be a number, got '" + v + "'");
        }
    }

    /** A value or null when the flag was not given and has no default. */
    public Integer optionalInteger(String name) {
        return string(name) == null ? null : integer(name);
    }

    public Double optionalDecimal(String name) {
        return string(name) == null ? null : decimal(name);
    }

    public UsageException bad(String message) {
        return new UsageException("loraplex " + command + ": " + message);
    }
}
