package io.loraplex.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.cluster.node.GpuNodeProtocol;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.util.ByteString;

/**
 * Turns the merged token events of a request's choices into server-sent events: {@code data: {chunk}\n\n}
 * per chunk, the usage chunk when asked, then {@code data: [DONE]\n\n}. A failed choice ends the
 * stream with an error event (the status line went out long before). Stream stages call it one
 * element at a time; it needs no locks.
 */
final class SseEncoder {

    static final ByteString DONE = ByteString.fromString("data: [DONE]\n\n");
    static final ByteString KEEP_ALIVE = ByteString.fromString(": keep-alive\n\n");

    /** An event of choice {@code index}. */
    record Tagged(int index, GpuNodeProtocol.TokenEvent event) {
    }

    /** Bytes to send; {@code more} false on the last element before the closing events. */
    record Out(ByteString bytes, boolean more) {
    }

    private final Call call;
    private final OpenAiRequest request;
    private final OpenAiWriter writer;
    private final OpenAiWriter.Meta meta;
    private final List<ChoiceProgress> choices = new ArrayList<>();
    private final int[] textOffset;
    /** Per choice, when the request may call tools: what of its text is held back to be read as calls. */
    private final ToolCallStream[] toolStreams;
    private final int startedPromptTokens;
    private boolean failed;
    /** The status a failed stream is logged with: the failure event's, 500 or 422. */
    private int failedStatus = 500;
    private boolean reachedEnd;

    SseEncoder(Call call, OpenAiRequest request, OpenAiWriter writer, OpenAiWriter.Meta meta, int startedPromptTokens) {
        this.call = call;
        this.request = request;
        this.writer = writer;
        this.meta = meta;
        this.startedPromptTokens = startedPromptTokens;
        for (int i = 0; i < request.choices(); i++) {
            choices.add(new ChoiceProgress(i, call, false));
        }
        this.textOffset = new int[request.choices()];
        ToolUse use = request instanceof ChatRequest chat ? chat.toolUse() : ToolUse.NONE;
        this.toolStreams = new ToolCallStream[request.choices()];
        if (use.callsPossible()) {
            for (int i = 0; i < request.choices(); i++) {
                toolStreams[i] = new ToolCallStream(use);
            }
        }
    }

    List<ByteString> opening() {
        List<ByteString> out = new ArrayList<>();
        for (ObjectNode chunk : writer.opening(meta, request.choices())) {
            out.add(data(chunk));
        }
        return out;
    }

    List<Out> onEvent(Tagged tagged) {
        ChoiceProgress choice = choices.get(tagged.index());
        List<Out> out = new ArrayList<>(2);
        switch (tagged.event()) {
            case GpuNodeProtocol.TokenText t -> {
                choice.onText(t);
                boolean withLogprobs = request.logprobs() && !t.logprobs().isEmpty();
                ToolCallStream tools = toolStreams[choice.index];
                if (tools != null && tools.live() != null) {
                    out.addAll(liveDeltas(choice.index, tools.onLiveText(t.text())));
                }
                String text = tools == null ? t.text() : tools.live() != null ? "" : tools.onText(t.text());
                if (!text.isEmpty() || withLogprobs) {
                    out.add(new Out(data(writer.delta(meta, choice.index, text, withLogprobs ? t.logprobs() : null,
                            textOffset[choice.index])), true));
                    textOffset[choice.index] += text.codePointCount(0, text.length());
                }
            }
            case GpuNodeProtocol.Finished f -> {
                choice.add(f);
                ToolCallStream tools = toolStreams[choice.index];
                if (tools != null && tools.live() != null) {
                    out.addAll(liveDeltas(choice.index, tools.onLiveText(f.text())));
                    if (tools.live().started()) {
                        // the calls went out as they came; cut short (max_tokens), they end as the node says
                        String finish = tools.live().complete() ? ToolCalls.TOOL_CALLS_FINISH : OpenAiWriter.finishReason(f.finishReason());
                        out.add(new Out(data(writer.finish(meta, choice.index, finish)), true));
                        break;
                    }
                }
                String tail = tools != null && tools.live() != null ? "" : f.text(); // a live stream's text is held already
                ToolCallStream.End end = tools == null ? new ToolCallStream.End(f.text(), List.of()) : tools.finish(tail);
                if (!end.content().isEmpty()) {
                    out.add(new Out(data(writer.delta(meta, choice.index, end.content(), null, textOffset[choice.index])), true));
                }
                for (int i = 0; i < end.calls().size(); i++) {
                    out.addAll(toolCallDeltas(choice.index, i, end.calls().get(i)));
                }
                String finish = end.calls().isEmpty() ? OpenAiWriter.finishReason(f.finishReason()) : ToolCalls.TOOL_CALLS_FINISH;
                out.add(new Out(data(writer.finish(meta, choice.index, finish)), true));
            }
            case GpuNodeProtocol.Failed f -> {
                choice.add(f);
                ApiError error = ApiError.generationFailed(f.code(), f.message());
                failed = true;
                failedStatus = error.status();
                out.add(new Out(error(error), false));
            }
        }
        return out;
    }

    /** Fragments of the arguments a call streams in, as OpenAI streams them a few tokens at a time. */
    static final int ARGUMENT_FRAGMENT_CHARS = 16;

    /** A call as OpenAI streams it: its head, then its arguments in fragments. */
    private List<Out> toolCallDeltas(int index, int callIndex, GpuNodeProtocol.ToolCall call) {
        List<Out> out = new ArrayList<>();
        out.add(new Out(data(writer.toolCallDelta(meta, index, callIndex, call, true, "")), true));
        String arguments = call.argumentsJson();
        int at = 0;
        while (at < arguments.length()) {
            int end = Math.min(arguments.length(), at + ARGUMENT_FRAGMENT_CHARS);
            if (end < arguments.length() && Character.isHighSurrogate(arguments.charAt(end - 1))) {
                end++; // never split a surrogate pair
            }
            out.add(new Out(data(writer.toolCallDelta(meta, index, callIndex, call, false, arguments.substring(at, end))), true));
            at = end;
        }
        return out;
    }

    /** A forced call's head and argument fragments as OpenAI's tool-call deltas. */
    private List<Out> liveDeltas(int index, List<LiveToolCalls.Event> events) {
        List<Out> out = new ArrayList<>(events.size());
        for (LiveToolCalls.Event event : events) {
            ObjectNode chunk = switch (event) {
                case LiveToolCalls.Head h -> writer.toolCallDelta(meta, index, h.call(), new GpuNodeProtocol.ToolCall(h.id(), h.name(), ""),
                        true, "");
                case LiveToolCalls.Arguments a -> writer.toolCallDelta(meta, index, a.call(), null, false, a.fragment());
            };
            out.add(new Out(data(chunk), true));
        }
        return out;
    }

    /** The stream broke (a node or the link failed): an error event ends it. */
    Tagged broken(Throwable t) {
        return new Tagged(0, new GpuNodeProtocol.Failed("the token stream broke: " + Responses.unwrap(t).getMessage()));
    }

    /** After the last choice finished (or one failed): usage when asked and not failed, then [DONE]. */
    List<ByteString> closing() {
        reachedEnd = true;
        List<ByteString> out = new ArrayList<>(2);
        if (request.includeUsage() && !failed) {
            out.add(data(writer.usageChunk(meta, ChoiceProgress.usage(choices, startedPromptTokens, request.n()))));
        }
        out.add(DONE);
        return out;
    }

    /** The HTTP body ended: completed (200), failed (500) or cancelled by the client (499). */
    void ended() {
        OpenAiWriter.Usage usage = ChoiceProgress.usage(choices, startedPromptTokens, request.n());
        int status = failed ? failedStatus : reachedEnd ? 200 : 499;
        call.end(status, usage.promptTokens(), usage.completionTokens());
    }

    private static ByteString data(JsonNode chunk) {
        byte[] json = Json.bytes(chunk);
        return ByteString.fromString("data: ").concat(ByteString.fromArray(json)).concat(ByteString.fromString("\n\n"));
    }

    private static ByteString error(ApiError e) {
        ObjectNode body = Json.object();
        ObjectNode error = body.putObject("error");
        error.put("message", e.message());
        error.put("type", e.type());
        if (e.param() == null) {
            error.putNull("param");
        } else {
            error.put("param", e.param());
        }
        error.put("code", e.code());
        return data(body);
    }
}
