package io.loraplex.router.http;

import io.loraplex.cluster.node.GpuNodeProtocol.ToolCall;
import java.util.List;

/**
 * One streamed choice of a request that may call tools: which of its text can go out as content at
 * once, and which must wait until the end to be read as calls. Text that is plainly prose streams as
 * it comes; text that starts like a call ({@code {}, {@code [}, {@code <tool_call>}, {@code [TOOL_CALLS]}),
 * or prose from a {@code <tool_call>} tag on, is held back and read at the end: calls become tool-call
 * deltas, anything else goes out as content after all. A forced call streams as it is generated
 * ({@link LiveToolCalls}): its head once its name is known, then its arguments token by token, as OpenAI
 * streams them. Used by one stream stage at a time; no locks.
 */
final class ToolCallStream {

    private enum Mode {
        /** Only blanks or the start of a marker so far. */
        UNDECIDED,
        /** Prose: streamed, except a tail that may begin a {@code <tool_call>} tag. */
        CONTENT,
        /** Held until the end to be read as calls. */
        CALLS
    }

    /** What the end of a choice sends: content (may be "") then the calls (may be none). */
    record End(String content, List<ToolCall> calls) {
    }

    private final ToolUse use;
    private final StringBuilder held = new StringBuilder();
    private Mode mode;
    /** Forced calls: read as they come; null otherwise. */
    private final LiveToolCalls live;

    ToolCallStream(ToolUse use) {
        this.use = use;
        this.mode = use.callsForced() ? Mode.CALLS : Mode.UNDECIDED;
        this.live = use.callsForced() ? new LiveToolCalls() : null;
    }

    /** The forced calls read as they are generated; null when calls are not forced (text is held instead). */
    LiveToolCalls live() {
        return live;
    }

    /** Forced calls: adds a piece of text and returns the call heads and argument fragments it completes. */
    List<LiveToolCalls.Event> onLiveText(String piece) {
        held.append(piece);
        return live.onText(piece);
    }

    /** Adds a piece of text; returns what may go out as content now ("" for nothing). */
    String onText(String piece) {
        held.append(piece);
        if (mode == Mode.UNDECIDED) {
            String start = held.toString().stripLeading();
            if (start.isEmpty() || isProperPrefix(start, ToolCalls.OPEN) || isProperPrefix(start, ToolCalls.MISTRAL)) {
                return "";
            }
            if (start.startsWith("{") || start.startsWith("[") || start.startsWith(ToolCalls.OPEN)) {
                mode = Mode.CALLS;
                return "";
            }
            mode = Mode.CONTENT;
        }
        if (mode == Mode.CALLS) {
            return "";
        }
        String text = held.toString();
        int open = text.indexOf(ToolCalls.OPEN);
        if (open >= 0) {
            mode = Mode.CALLS;
            held.delete(0, open);
            return text.substring(0, open);
        }
        int keep = partialTagAtEnd(text);
        held.delete(0, text.length() - keep);
        return text.substring(0, text.length() - keep);
    }

    /** The end of the choice, after {@code tail} (the node's held-back text). */
    End finish(String tail) {
        String now = onText(tail);
        String rest = held.toString();
        held.setLength(0);
        if (mode == Mode.CALLS) {
            var parsed = ToolCalls.parse(rest, use);
            if (parsed.isPresent()) {
                String content = parsed.get().content() == null ? "" : parsed.get().content();
                return new End(now + content, parsed.get().calls());
            }
        }
        return new End(now + rest, List.of());
    }

    private static boolean isProperPrefix(String text, String marker) {
        return text.length() < marker.length() && marker.startsWith(text);
    }

    /** The length of the longest end of {@code text} that begins {@code <tool_call>}. */
    private static int partialTagAtEnd(String text) {
        for (int n = Math.min(text.length(), ToolCalls.OPEN.length() - 1); n > 0; n--) {
            if (ToolCalls.OPEN.startsWith(text.substring(text.length() - n))) {
                return n;
            }
        }
        return 0;
    }
}
