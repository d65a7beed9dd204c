package io.loraplex.router.http;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.cluster.node.GpuNodeProtocol.TokenLogprob;
import java.util.List;

/**
 * Writes OpenAI's response bodies and stream chunks for one endpoint. Chat and completions differ
 * only in shape ({@code message}/{@code delta} vs {@code text}, two logprobs formats), never in flow.
 */
public sealed interface OpenAiWriter permits OpenAiWriter.Chat, OpenAiWriter.Completions {

    /** What every body of one response repeats. {@code includeUsage}: chunks carry {@code "usage": null}. */
    record Meta(String id, long created, String model, boolean includeUsage) {
    }

    record Usage(int promptTokens, int completionTokens, int cachedTokens) {
        int total() {
            return promptTokens + completionTokens;
        }
    }

    /**
     * One finished choice; {@code logprobs} null when not asked for. With {@code toolCalls} (chat only,
     * empty for none) the message's content is {@code text}, or null when that is empty.
     */
    record Choice(int index, String text, List<TokenLogprob> logprobs, String finishReason, List<GpuNodeProtocol.ToolCall> toolCalls) {
        public Choice {
            toolCalls = toolCalls == null ? List.of() : List.copyOf(toolCalls);
        }

        /** A choice of text only. */
        public Choice(int index, String text, List<TokenLogprob> logprobs, String finishReason) {
            this(index, text, logprobs, finishReason, List.of());
        }
    }

    String idPrefix();

    ObjectNode response(Meta meta, List<Choice> choices, Usage usage);

    /** Chunks before any token (chat: the assistant role of every choice). */
    List<ObjectNode> opening(Meta meta, int n);

    /** Text (and its tokens' logprobs, null when not asked) of one choice; {@code textOffset} in code points. */
    ObjectNode delta(Meta meta, int index, String text, List<TokenLogprob> logprobs, int textOffset);

    ObjectNode finish(Meta meta, int index, String finishReason);

    /**
     * A streamed piece of tool call {@code callIndex} of choice {@code index}: its head (id, type, name,
     * arguments "") when {@code head}, else a fragment of its arguments. Chat only.
     */
    ObjectNode toolCallDelta(Meta meta, int index, int callIndex, GpuNodeProtocol.ToolCall call, boolean head, String arguments);

    /** The last chunk when {@code include_usage}: no choices, the usage. */
    default ObjectNode usageChunk(Meta meta, Usage usage) {
        ObjectNode chunk = chunk(meta);
        chunk.putArray("choices");
        chunk.set("usage", usage(usage));
        return chunk;
    }

    ObjectNode chunk(Meta meta);

    static ObjectNode usage(Usage usage) {
        ObjectNode u = Json.object();
        u.put("prompt_tokens", usage.promptTokens());
        u.put("completion_tokens", usage.completionTokens());
        u.put("total_tokens", usage.total());
        u.putObject("prompt_tokens_details").put("cached_tokens", usage.cachedTokens());
        return u;
    }

    /** OpenAI writes -9999.0 where a log-probability is minus infinity; JSON has no infinities. */
    static double finite(double logprob) {
        return Double.isFinite(logprob) ? logprob : -9999.0;
    }

    /** The node's finish reasons, as OpenAI names them: a deadline or a node-side cancel truncated the output. */
    static String finishReason(GpuNodeProtocol.FinishReason nodeReason) {
        return switch (nodeReason) {
            case STOP, LENGTH -> nodeReason.apiName();
            case DEADLINE, CANCELLED -> GpuNodeProtocol.FinishReason.LENGTH.apiName();
        };
    }

    private static ObjectNode head(Meta meta, String object) {
        ObjectNode o = Json.object();
        o.put("id", meta.id());
        o.put("object", object);
        o.put("created", meta.created());
        o.put("model", meta.model());
        o.putNull("system_fingerprint");
        return o;
    }

    /** {@code /v1/chat/completions}: {@code chat.completion} and {@code chat.completion.chunk}. */
    final class Chat implements OpenAiWriter {

        @Override
        public String idPrefix() {
            return "chatcmpl-";
        }

        @Override
        public ObjectNode response(Meta meta, List<Choice> choices, Usage usage) {
            ObjectNode o = head(meta, "chat.completion");
            ArrayNode array = o.putArray("choices");
            for (Choice c : choices) {
                ObjectNode choice = array.addObject();
                choice.put("index", c.index());
                ObjectNode message = choice.putObject("message");
                message.put("role", "assistant");
                if (c.toolCalls().isEmpty() || !c.text().isEmpty()) {
                    message.put("content", c.text());
                } else {
                    message.putNull("content"); // an answer of calls only, as OpenAI writes it
                }
                message.putNull("refusal");
                if (!c.toolCalls().isEmpty()) {
                    ArrayNode calls = message.putArray("tool_calls");
                    for (GpuNodeProtocol.ToolCall call : c.toolCalls()) {
                        ObjectNode entry = calls.addObject();
                        entry.put("id", call.id());
                        entry.put("type", "function");
                        entry.putObject("function").put("name", call.name()).put("arguments", call.argumentsJson());
                    }
                }
                choice.set("logprobs", c.logprobs() == null ? null : logprobs(c.logprobs()));
                choice.put("finish_reason", c.finishReason());
            }
            o.set("usage", usage(usage));
            return o;
        }

        @Override
        public ObjectNode chunk(Meta meta) {
            ObjectNode o = head(meta, "chat.completion.chunk");
            if (meta.includeUsage()) {
                o.putNull("usage");
            }
            return o;
        }

        @Override
        public List<ObjectNode> opening(Meta meta, int n) {
            ObjectNode[] out = new ObjectNode[n];
            for (int i = 0; i < n; i++) {
                ObjectNode chunk = chunk(meta);
                ObjectNode choice = chunk.putArray("choices").addObject();
                choice.put("index", i);
                choice.putObject("delta").put("role", "assistant").put("content", "");
                choice.putNull("logprobs");
                choice.putNull("finish_reason");
                out[i] = chunk;
            }
            return List.of(out);
        }

        @Override
        public ObjectNode delta(Meta meta, int index, String text, List<TokenLogprob> logprobs, int textOffset) {
            ObjectNode chunk = chunk(meta);
            ObjectNode choice = chunk.putArray("choices").addObject();
            choice.put("index", index);
            choice.putObject("delta").put("content", text);
            choice.set("logprobs", logprobs == null ? null : logprobs(logprobs));
            choice.putNull("finish_reason");
            return chunk;
        }

        @Override
        public ObjectNode finish(Meta meta, int index, String finishReason) {
            ObjectNode chunk = chunk(meta);
            ObjectNode choice = chunk.putArray("choices").addObject();
            choice.put("index", index);
            choice.putObject("delta");
            choice.putNull("logprobs");
            choice.put("finish_reason", finishReason);
            return chunk;
        }

        /** OpenAI's shape: {@code delta.tool_calls[{index, id, type, function: {name, arguments: ""}}]}, then {@code function.arguments} fragments. */
        @Override
        public ObjectNode toolCallDelta(Meta meta, int index, int callIndex, GpuNodeProtocol.ToolCall call, boolean head,
                String arguments) {
            ObjectNode chunk = chunk(meta);
            ObjectNode choice = chunk.putArray("choices").addObject();
            choice.put("index", index);
            ObjectNode entry = choice.putObject("delta").putArray("tool_calls").addObject();
            entry.put("index", callIndex);
            if (head) {
                entry.put("id", call.id());
                entry.put("type", "function");
                entry.putObject("function").put("name", call.name()).put("arguments", "");
            } else {
                entry.putObject("function").put("arguments", arguments);
            }
            choice.putNull("logprobs");
            choice.putNull("finish_reason");
            return chunk;
        }

        /** {@code {content: [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}], refusal: null}}. */
        private static ObjectNode logprobs(List<TokenLogprob> tokens) {
            ObjectNode o = Json.object();
            ArrayNode content = o.putArray("content");
            for (TokenLogprob t : tokens) {
                ObjectNode entry = tokenEntry(content.addObject(), t.token(), t.logprob());
                ArrayNode top = entry.putArray("top_logprobs");
                for (var alt : t.top()) {
                    tokenEntry(top.addObject(), alt.token(), alt.logprob());
                }
            }
            o.putNull("refusal");
            return o;
        }

        private static ObjectNode tokenEntry(ObjectNode entry, String token, double logprob) {
            entry.put("token", token);
            entry.put("logprob", finite(logprob));
            ArrayNode bytes = entry.putArray("bytes");
            for (byte b : token.getBytes(java.nio.charset.StandardCharsets.UTF_8)) {
                bytes.add(b & 0xff);
            }
            return entry;
        }
    }

    /** {@code /v1/completions}: {@code text_completion} bodies and chunks. */
    final class Completions implements OpenAiWriter {

        @Override
        public String idPrefix() {
            return "cmpl-";
        }

        @Override
        public ObjectNode response(Meta meta, List<Choice> choices, Usage usage) {
            ObjectNode o = head(meta, "text_completion");
            ArrayNode array = o.putArray("choices");
            for (Choice c : choices) {
                ObjectNode choice = array.addObject();
                choice.put("text", c.text());
                choice.put("index", c.index());
                choice.set("logprobs", c.logprobs() == null ? null : logprobs(c.logprobs(), 0));
                choice.put("finish_reason", c.finishReason());
            }
            o.set("usage", usage(usage));
            return o;
        }

        @Override
        public ObjectNode chunk(Meta meta) {
            ObjectNode o = head(meta, "text_completion");
            if (meta.includeUsage()) {
                o.putNull("usage");
            }
            return o;
        }

        @Override
        public List<ObjectNode> opening(Meta meta, int n) {
            return List.of();
        }

        @Override
        public ObjectNode delta(Meta meta, int index, String text, List<TokenLogprob> logprobs, int textOffset) {
            ObjectNode chunk = chunk(meta);
            ObjectNode choice = chunk.putArray("choices").addObject();
            choice.put("text", text);
            choice.put("index", index);
            choice.set("logprobs", logprobs == null ? null : logprobs(logprobs, textOffset));
            choice.putNull("finish_reason");
            return chunk;
        }

        @Override
        public ObjectNode finish(Meta meta, int index, String finishReason) {
            ObjectNode chunk = chunk(meta);
            ObjectNode choice = chunk.putArray("choices").addObject();
            choice.put("text", "");
            choice.put("index", index);
            choice.putNull("logprobs");
            choice.put("finish_reason", finishReason);
            return chunk;
        }

        @Override
        public ObjectNode toolCallDelta(Meta meta, int index, int callIndex, GpuNodeProtocol.ToolCall call, boolean head,
                String arguments) {
            throw new IllegalStateException("completions have no tool calls");
        }

        /**
         * The legacy format: parallel arrays {@code tokens, token_logprobs, top_logprobs (token → logprob),
         * text_offset} (offsets in code points from the start of the completion).
         */
        static ObjectNode logprobs(List<TokenLogprob> tokens, int startOffset) {
            ObjectNode o = Json.object();
            ArrayNode tokenArray = o.putArray("tokens");
            ArrayNode logprobArray = o.putArray("token_logprobs");
            ArrayNode topArray = o.putArray("top_logprobs");
            ArrayNode offsets = o.putArray("text_offset");
            int offset = startOffset;
            for (TokenLogprob t : tokens) {
                tokenArray.add(t.token());
                logprobArray.add(finite(t.logprob()));
                ObjectNode top = topArray.addObject();
                for (var alt : t.top()) {
                    top.put(alt.token(), finite(alt.logprob()));
                }
                offsets.add(offset);
                offset += t.token().codePointCount(0, t.token().length());
            }
            return o;
        }
    }
}
