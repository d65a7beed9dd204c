package io.loraplex.router.testkit;

import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.cluster.node.GpuNodeProtocol.AdapterTier;
import io.loraplex.cluster.node.GpuNodeProtocol.ChatPrompt;
import io.loraplex.cluster.node.GpuNodeProtocol.FinishReason;
import io.loraplex.cluster.node.GpuNodeProtocol.Generate;
import io.loraplex.cluster.node.GpuNodeProtocol.RejectReason;
import io.loraplex.cluster.node.GpuNodeProtocol.TextPrompt;
import io.loraplex.cluster.node.GpuNodeProtocol.TokenPrompt;
import io.loraplex.cluster.node.GpuNodeProtocol.TokenEvent;
import io.loraplex.cluster.node.GpuNodeProtocol.TokenLogprob;
import io.loraplex.cluster.node.GpuNodeProtocol.TokenText;
import io.loraplex.cluster.node.GpuNodeProtocol.TopLogprob;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.stream.SourceRef;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.stream.javadsl.StreamRefs;

/**
 * A GPU node double: registers under {@link GpuNodeProtocol#SERVICE_KEY}, answers {@code GetStats},
 * and answers {@code Generate} by a script chosen by markers in the prompt:
 * <ul>
 *   <li>{@code [reject:context]}, {@code [reject:overloaded]}, {@code [reject:adapter-missing]},
 *       {@code [reject:adapter-invalid]}: {@code Rejected}</li>
 *   <li>{@code [slow]}: a token every 50 ms until the reader cancels (recorded in {@link #cancelled})</li>
 *   <li>{@code [late]}: the answer comes 500 ms late</li>
 *   <li>{@code [paced]}: ten tokens 100 ms apart, then {@code Finished}</li>
 *   <li>{@code [fail]}: one token, then {@code Failed}</li>
 *   <li>{@code [poisoned]}: {@code Failed} with {@code ADAPTER_QUARANTINED}, as an engine that quarantined the adapter</li>
 *   <li>{@code [say]text}: answers the text after the last {@code [say]}, in pieces of four characters
 *       (a JSON call in it becomes {@code tool_calls} when the request has tools)</li>
 *   <li>a chat whose last message is a tool's: answers {@code "The tool said: " <its content>}</li>
 *   <li>{@code [broken-once]}: the first node asked for a request id sends one token, then its stream
 *       breaks (as when the node dies); any later attempt of that id is answered normally</li>
 *   <li>otherwise {@code "Hello" "," " world"} (or {@code "seed=" <seed>} when seeded), the held-back
 *       tail {@code "!"} in {@code Finished(stop, prompt 7, completion 3, cached 2)}; {@code max_tokens}
 *       below 3 truncates with {@code length}</li>
 * </ul>
 */
public final class FakeGpuNode {

    public static final String BASE_MODEL = "test-base";
    public static final int PROMPT_TOKENS = 7;
    /** Request ids whose stream one of the doubles already broke ({@code [broken-once]}). */
    private static final java.util.Set<String> BROKEN = ConcurrentHashMap.newKeySet();

    public final NodeId id;
    public final AtomicBoolean ready = new AtomicBoolean(true);
    public final List<Generate> generates = new CopyOnWriteArrayList<>();
    /** Request ids whose stream the reader cancelled before its end. */
    public final Map<String, Boolean> cancelled = new ConcurrentHashMap<>();
    public volatile List<String> hotAdapters = List.of();
    /** Adapters made hot by LoadAdapter or PinAdapter (listed in the stats as hot). */
    public final Map<String, GpuNodeProtocol.HeldAdapter> held = new ConcurrentHashMap<>();
    /** Every fleet operation received (LoadAdapter, PinAdapter, EvictAdapter, SetDraining, Leave), in order. */
    public final List<GpuNodeProtocol.Command> operations = new CopyOnWriteArrayList<>();
    public final AtomicBoolean draining = new AtomicBoolean();
    /** Requests reported as running (a drain waits for them). */
    public final java.util.concurrent.atomic.AtomicInteger running = new java.util.concurrent.atomic.AtomicInteger();

    public FakeGpuNode(String id) {
        this.id = new NodeId(id);
    }

    public Behavior<GpuNodeProtocol.Command> behavior() {
        return Behaviors.setup(ctx -> {
            ctx.getSystem().receptionist().tell(Receptionist.register(GpuNodeProtocol.SERVICE_KEY, ctx.getSelf()));
            return Behaviors.receive(GpuNodeProtocol.Command.class)
                    .onMessage(GpuNodeProtocol.GetStats.class, get -> {
                        List<String> hot = new ArrayList<>(hotAdapters);
                        held.keySet().forEach(h -> {
                            if (!hot.contains(h)) {
                                hot.add(h);
                            }
                        });
                        get.replyTo().tell(new GpuNodeProtocol.NodeStats(id, BASE_MODEL, "0123456789abcdef",
                                ready.get() && !draining.get(), draining.get(), running.get(), 0, 64, 100, 100, 0, hot,
                                List.copyOf(held.values())));
                        return Behaviors.same();
                    })
                    .onMessage(GpuNodeProtocol.LoadAdapter.class, load -> {
                        operations.add(load);
                        held.put(load.adapter().contentHash().hex(), new GpuNodeProtocol.HeldAdapter(load.adapter(), AdapterTier.HOT, load.pin(), 0));
                        load.replyTo().tell(GpuNodeProtocol.Ack.done());
                        return Behaviors.same();
                    })
                    .onMessage(GpuNodeProtocol.PinAdapter.class, pin -> {
                        operations.add(pin);
                        held.put(pin.adapter().contentHash().hex(), new GpuNodeProtocol.HeldAdapter(pin.adapter(), AdapterTier.HOT, pin.pinned(), 0));
                        pin.replyTo().tell(GpuNodeProtocol.Ack.done());
                        return Behaviors.same();
                    })
                    .onMessage(GpuNodeProtocol.EvictAdapter.class, evict -> {
                        operations.add(evict);
                        held.remove(evict.hash().hex());
                        evict.replyTo().tell(GpuNodeProtocol.Ack.done());
                        return Behaviors.same();
                    })
                    .onMessage(GpuNodeProtocol.SetDraining.class, set -> {
                        operations.add(set);
                        draining.set(set.draining());
                        set.replyTo().tell(GpuNodeProtocol.Ack.done());
                        return Behaviors.same();
                    })
                    .onMessage(GpuNodeProtocol.Leave.class, leave -> {
                        operations.add(leave);
                        leave.replyTo().tell(running.get() > 0 ? GpuNodeProtocol.Ack.failed("requests still run")
                                : GpuNodeProtocol.Ack.failed("shares its JVM with a router; it stays drained"));
                        return Behaviors.same();
                    })
                    .onMessage(Generate.class, g -> {
                        generates.add(g);
                        GpuNodeProtocol.GenerateReply reply = answer(g, ctx.getSystem());
                        if (promptText(g.prompt()).contains("[late]")) {
                            ctx.getSystem().scheduler().scheduleOnce(Duration.ofMillis(500), () -> g.replyTo().tell(reply),
                                    ctx.getExecutionContext());
                        } else {
                            g.replyTo().tell(reply);
                        }
                        return Behaviors.same();
                    })
                    .onAnyMessage(m -> Behaviors.same())
                    .build();
        });
    }

    private GpuNodeProtocol.GenerateReply answer(Generate g, org.apache.pekko.actor.typed.ActorSystem<?> system) {
        String prompt = promptText(g.prompt());
        if (prompt.contains("[reject:context]")) {
            return new GpuNodeProtocol.Rejected(g.requestId(), RejectReason.CONTEXT_LENGTH_EXCEEDED, "max_tokens",
                    "This model's maximum context length is 2048 tokens. However, you requested 9000 tokens.");
        }
        if (prompt.contains("[reject:adapter-missing]")) {
            return new GpuNodeProtocol.Rejected(g.requestId(), RejectReason.ADAPTER_NOT_FOUND, "model",
                    "adapter cafe (version 1) is not available on node " + id + " and no blob store is known to fetch it from");
        }
        if (prompt.contains("[reject:adapter-invalid]")) {
            // no "invalid" in the text: the status comes from the reason, never from the message
            return new GpuNodeProtocol.Rejected(g.requestId(), RejectReason.ADAPTER_INVALID, "model",
                    "adapter cafe (version 1) does not load on this base: lora_A of layer 3 has rank 9, above the limit of 8");
        }
        if (draining.get()) {
            return new GpuNodeProtocol.Rejected(g.requestId(), RejectReason.OVERLOADED, null, "node " + id + " is draining");
        }
        if (prompt.contains("[reject:overloaded]")) {
            return new GpuNodeProtocol.Rejected(g.requestId(), RejectReason.OVERLOADED, null, "the node's queue is full (256 waiting)");
        }
        Source<TokenEvent, NotUsed> events;
        if (prompt.contains("[slow]")) {
            events = Source.repeat((TokenEvent) text("tick ", g))
                    .throttle(1, Duration.ofMillis(50))
                    .watchTermination((mat, done) -> {
                        done.whenComplete((d, t) -> cancelled.put(g.requestId(), true));
                        return mat;
                    });
        } else if (prompt.contains("[paced]")) {
            List<TokenEvent> list = new ArrayList<>();
            for (int i = 0; i < 10; i++) {
                list.add(text("t" + i + " ", g));
            }
            list.add(new GpuNodeProtocol.Finished("", FinishReason.STOP, PROMPT_TOKENS, 10, 0));
            events = Source.from(list).throttle(1, Duration.ofMillis(100));
        } else if (prompt.contains("[broken-once]") && BROKEN.add(g.requestId())) {
            events = Source.<TokenEvent>single(text("partial", g))
                    .concat(Source.failed(new IllegalStateException("node " + id + " crashed")));
        } else if (g.prompt() instanceof ChatPrompt chat && chat.messages().getLast().role().equals("tool")) {
            events = said("The tool said: " + chat.messages().getLast().content(), g);
        } else if (prompt.contains("[say]")) {
            events = said(prompt.substring(prompt.lastIndexOf("[say]") + "[say]".length()), g);
        } else if (prompt.contains("[poisoned]")) {
            events = Source.single(new GpuNodeProtocol.Failed("adapter t/cafe@1 produced a non-finite logit (NaN at token 5); "
                    + "this adapter version is quarantined and will not be served again",
                    GpuNodeProtocol.FailureCode.ADAPTER_QUARANTINED));
        } else if (prompt.contains("[fail]")) {
            events = Source.from(List.of(text("partial", g), new GpuNodeProtocol.Failed("the engine failed the request")));
        } else {
            List<String> pieces = g.params().seed() != null ? List.of("seed", "=", g.params().seed().toString())
                    : g.prompt() instanceof TokenPrompt t ? List.of("ids", "=", idList(t))
                    : List.of("Hello", ",", " world");
            int max = g.params().maxTokens() == null ? Integer.MAX_VALUE : g.params().maxTokens();
            List<TokenEvent> list = new ArrayList<>();
            for (int i = 0; i < Math.min(max, pieces.size()); i++) {
                list.add(text(pieces.get(i), g));
            }
            boolean truncated = max < pieces.size();
            list.add(new GpuNodeProtocol.Finished(truncated ? "" : "!", truncated ? FinishReason.LENGTH : FinishReason.STOP, promptTokens(g),
                    Math.min(max, pieces.size()), 2));
            events = Source.from(list);
        }
        SourceRef<TokenEvent> ref = events.runWith(StreamRefs.sourceRef(), system);
        AdapterTier tier = g.adapter() == null ? null : held.containsKey(g.adapter().contentHash().hex())
                || hotAdapters.contains(g.adapter().contentHash().hex()) ? AdapterTier.HOT : AdapterTier.COLD;
        if (g.adapter() != null) {
            held.put(g.adapter().contentHash().hex(), new GpuNodeProtocol.HeldAdapter(g.adapter(), AdapterTier.HOT, false, 0));
        }
        return new GpuNodeProtocol.Started(g.requestId(), id, promptTokens(g), tier, ref);
    }

    /** {@code text} in tokens of four characters, then {@code Finished(stop)}. */
    private static Source<TokenEvent, NotUsed> said(String text, Generate g) {
        List<TokenEvent> list = new ArrayList<>();
        for (int at = 0; at < text.length(); at += 4) {
            list.add(text(text.substring(at, Math.min(text.length(), at + 4)), g));
        }
        list.add(new GpuNodeProtocol.Finished("", FinishReason.STOP, PROMPT_TOKENS, list.size(), 0));
        return Source.from(list);
    }

    /** One token; with logprobs when asked: the token at -0.5 and {@code top_logprobs} alternatives below it. */
    private static TokenText text(String piece, Generate g) {
        if (!g.params().logprobs()) {
            return new TokenText(piece, 1, List.of());
        }
        List<TopLogprob> top = new ArrayList<>();
        for (int i = 0; i < g.params().topLogprobs(); i++) {
            top.add(new TopLogprob(i == 0 ? piece : "alt" + i, i == 0 ? -0.5 : -1.0 - i));
        }
        return new TokenText(piece, 1, List.of(new TokenLogprob(piece, -0.5, top)));
    }

    /** A token prompt counts its ids; any other prompt {@link #PROMPT_TOKENS}. */
    private static int promptTokens(Generate g) {
        return g.prompt() instanceof TokenPrompt t ? t.length() : PROMPT_TOKENS;
    }

    private static String idList(TokenPrompt t) {
        return String.join(",", java.util.Arrays.stream(t.ids()).mapToObj(Integer::toString).toList());
    }

    public static String promptText(GpuNodeProtocol.Prompt prompt) {
        return switch (prompt) {
            case TextPrompt t -> t.text();
            case TokenPrompt t -> "ids=" + idList(t);
            case ChatPrompt c -> String.join("\n", c.messages().stream().map(GpuNodeProtocol.ChatMessage::content).toList());
        };
    }
}
