package io.loraplex.router.http;

import java.util.ArrayList;
import java.util.List;

/**
 * A forced call's text read as it is generated, so that its arguments stream token by token as
 * OpenAI streams them. Under {@code required} or a named function the node's constrained decoding
 * writes exactly {@code {"name":"f","arguments":{...}}} (or an array of such), keys in that order; this
 * scanner follows the JSON's strings and brackets and reports each call's head once its name is
 * known and its arguments begin, then the arguments' characters as they come. Used by one stream
 * stage at a time; no locks.
 */
final class LiveToolCalls {

    /** What a piece of text added to the calls. */
    sealed interface Event {
    }

    /** A call begins: its id (made here) and the function's name. */
    record Head(int call, String id, String name) implements Event {
    }

    /** More of a call's arguments (raw JSON text, as generated). */
    record Arguments(int call, String fragment) implements Event {
    }

    private int callDepth;                 // 1: one call object; 2: an array of them; 0: not known yet
    private int depth;
    private boolean inString;
    private boolean escaped;
    private final StringBuilder string = new StringBuilder(); // the string being read outside the arguments
    private boolean expectingKey;
    private String key;                    // the last key read at the call's depth
    private String name;                   // the current call's name
    private boolean inArguments;
    private boolean argumentsBegun;        // the arguments' first character went out (blanks before it do not)
    private int calls;                     // heads sent
    private int argumentsDone;             // calls whose arguments ended

    /** The events {@code piece} adds, in order; several characters of one call's arguments come as one fragment. */
    List<Event> onText(String piece) {
        List<Event> out = new ArrayList<>(2);
        StringBuilder fragment = new StringBuilder();
        for (int i = 0; i < piece.length(); i++) {
            char c = piece.charAt(i);
            if (inArguments) {
                if (!argumentsBegun && Character.isWhitespace(c)) {
                    continue;
                }
                argumentsBegun = true;
                fragment.append(c);
                if (track(c) && depth == callDepth) {
                    inArguments = false;
                    argumentsDone++;
                    out.add(new Arguments(calls - 1, fragment.toString()));
                    fragment.setLength(0);
                }
                continue;
            }
            if (inString) {
                if (escaped) {
                    escaped = false;
                    string.append(c);
                } else if (c == '\\') {
                    escaped = true;
                    string.append(c);
                } else if (c == '"') {
                    inString = false;
                    endOfString();
                } else {
                    string.append(c);
                }
                continue;
            }
            switch (c) {
                case '"' -> {
                    inString = true;
                    string.setLength(0);
                }
                case '{', '[' -> {
                    if (callDepth == 0) {
                        callDepth = c == '{' ? 1 : 2;
                    }
                    depth++;
                    if (c == '{' && depth == callDepth) {
                        expectingKey = true;
                        key = null;
                        name = null;
                    }
                }
                case '}', ']' -> depth--;
                case ':' -> {
                    if (depth == callDepth && "arguments".equals(key) && name != null) {
                        out.add(new Head(calls, ToolCalls.newId(), name));
                        calls++;
                        inArguments = true;
                        argumentsBegun = false;
                    }
                    expectingKey = false;
                }
                case ',' -> expectingKey = depth == callDepth;
                default -> {
                }
            }
        }
        if (!fragment.isEmpty()) {
            out.add(new Arguments(calls - 1, fragment.toString()));
        }
        return out;
    }

    /** Whether every call whose head went out has its whole arguments. */
    boolean complete() {
        return calls > 0 && argumentsDone == calls && !inArguments;
    }

    /** Whether any call's head went out (its deltas cannot be taken back). */
    boolean started() {
        return calls > 0;
    }

    /** Follows strings and brackets inside the arguments; true when {@code c} closed a bracket. */
    private boolean track(char c) {
        if (inString) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                inString = false;
            }
            return false;
        }
        switch (c) {
            case '"' -> inString = true;
            case '{', '[' -> depth++;
            case '}', ']' -> {
                depth--;
                return true;
            }
            default -> {
            }
        }
        return false;
    }

    private void endOfString() {
        if (depth != callDepth) {
            return;
        }
        if (expectingKey) {
            key = string.toString();
            expectingKey = false;
        } else if ("name".equals(key)) {
            name = string.toString();
        }
    }
}
