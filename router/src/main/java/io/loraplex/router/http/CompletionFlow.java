package io.loraplex.router.http;

import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.cluster.node.GpuNodeProtocol.GenerateReply;
import io.loraplex.cluster.node.GpuNodeProtocol.Rejected;
import io.loraplex.cluster.node.GpuNodeProtocol.Started;
import io.loraplex.cluster.tenant.TenantProtocol;
import io.loraplex.router.RouterSettings;
import io.loraplex.router.auth.KeyIndex;
import io.loraplex.router.metrics.RouterMetrics;
import io.loraplex.router.placement.Placement;
import io.loraplex.router.placement.Sessions;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.japi.pf.PFBuilder;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The path of one generation request: authenticate, read and validate the body, admit it with the
 * tenant's entity, place its choices on GPU nodes, then stream their tokens out as server-sent
 * events or collect them into one body. The HTTP status is decided once every node has answered
 * {@code Started} or {@code Rejected}; the tenant hears {@code Finished} once, however it ends.
 */
public final class CompletionFlow {

    private static final Logger log = LoggerFactory.getLogger(CompletionFlow.class);
    private static final SecureRandom RANDOM = new SecureRandom();
    /** The header naming a chat session: its requests go to the node its adapter was prefetched on. */
    public static final String SESSION_HEADER = "X-Session-Id";

    /** The two generation endpoints. */
    public enum Endpoint {
        CHAT("chat", new OpenAiWriter.Chat()),
        COMPLETIONS("completions", new OpenAiWriter.Completions());

        final String label;
        final OpenAiWriter writer;

        Endpoint(String label, OpenAiWriter writer) {
            this.label = label;
            this.writer = writer;
        }

        OpenAiRequest parse(byte[] body, RouterSettings settings) {
            return this == CHAT ? ChatRequest.parse(body, settings) : CompletionRequest.parse(body, settings);
        }
    }

    private final ActorSystem<?> system;
    private final RouterSettings settings;
    private final KeyIndex keys;
    private final Placement placement;
    private final RouterMetrics metrics;
    private final BooleanSupplier draining;
    private final ClusterSharding sharding;
    private final Sessions sessions;
    /** How many nodes one generation may be tried on before its error is returned. */
    private final int maxAttempts;
    /** Requests begun and not ended (streams until their last byte left): what a graceful stop waits for. */
    private final AtomicInteger inFlight = new AtomicInteger();

    public CompletionFlow(ActorSystem<?> system, RouterSettings settings, KeyIndex keys, Placement placement, Sessions sessions,
            RouterMetrics metrics, BooleanSupplier draining) {
        this.system = system;
        this.sessions = sessions;
        this.maxAttempts = settings.maxAttempts();
        this.settings = settings;
        this.keys = keys;
        this.placement = placement;
        this.metrics = metrics;
        this.draining = draining;
        this.sharding = ClusterSharding.get(system);
    }

    public CompletionStage<HttpResponse> handle(Endpoint endpoint, HttpRequest request) {
        inFlight.incrementAndGet();
        Call call = new Call(endpoint.writer.idPrefix() + newId(), endpoint.label, metrics,
                (tenant, finished) -> sharding.entityRefFor(TenantProtocol.TYPE_KEY, tenant.value()).tell(finished),
                inFlight::decrementAndGet);
        CompletionStage<HttpResponse> response;
        try {
            if (draining.getAsBoolean()) {
                throw ApiError.unavailable("This router is shutting down; retry the request.").toException();
            }
            Optional<String> session = request.getHeader(SESSION_HEADER).map(h -> h.value().strip());
            if (session.isPresent() && !Sessions.ID.matcher(session.get()).matches()) {
                throw ApiError.invalid(null, "The " + SESSION_HEADER + " header must be 1 to 128 letters, digits or _.:- characters.")
                        .toException();
            }
            call.session(session.orElse(null));
            response = Caller.authenticate(request, keys).thenCompose(caller -> {
                call.authenticated(caller);
                return Bodies.read(request, settings.maxBodyBytes(), settings.requestTimeout(), system);
            }).thenCompose(body -> serve(call, endpoint, endpoint.parse(body, settings)));
        } catch (ApiException e) {
            response = CompletableFuture.failedFuture(e);
        }
        RawHeader requestId = RawHeader.create("x-request-id", call.id);
        return response.exceptionally(t -> {
            ApiError error = Responses.errorOf(t);
            if (!(Responses.unwrap(t) instanceof ApiException)) {
                log.error("request {} failed", call.id, Responses.unwrap(t));
            }
            call.end(error.status(), 0, 0);
            return Responses.error(error);
        }).thenApply(r -> r.addHeader(requestId));
    }

    /** Generation requests in flight, streams included. */
    public int inFlight() {
        return inFlight.get();
    }

    private CompletionStage<HttpResponse> serve(Call call, Endpoint endpoint, OpenAiRequest req) {
        boolean base = placement.baseModels().contains(req.model());
        return admit(call, req, base).thenCompose(admitted -> {
            call.admitted(base ? req.model() : metrics.adapterLabel(call.caller().tenant().value(), req.model()));
            Integer maxTokens = maxTokens(endpoint, req, admitted);
            return generate(call, endpoint, req, admitted, base ? req.model() : null, maxTokens, new HashSet<>(), 1);
        });
    }

    /**
     * Starts the choices and answers. A non-streaming request whose node dies before the answer is
     * complete is started again elsewhere: the client has seen nothing of it yet.
     */
    private CompletionStage<HttpResponse> generate(Call call, Endpoint endpoint, OpenAiRequest req, TenantProtocol.Admitted admitted,
            String baseModel, Integer maxTokens, Set<NodeId> lostNodes, int attempt) {
        return start(call, endpoint, req, admitted, baseModel, maxTokens, lostNodes).thenCompose(started -> {
            long routedNanos = System.nanoTime() - call.startNanos;
            OpenAiWriter.Meta meta = new OpenAiWriter.Meta(call.id, call.createdEpochSeconds, req.model(), req.includeUsage());
            if (req.stream()) {
                return CompletableFuture.completedFuture(withPlacement(stream(call, endpoint, req, meta, started), started, routedNanos));
            }
            return collect(call, endpoint, req, meta, started, attempt < maxAttempts)
                    .thenApply(response -> withPlacement(response, started, routedNanos))
                    .exceptionallyCompose(t -> {
                        if (Responses.unwrap(t) instanceof NodeLost lost) {
                            log.warn("request {}: node {} was lost mid-generation; starting it again elsewhere", call.id, lost.node);
                            lostNodes.add(lost.node);
                            return generate(call, endpoint, req, admitted, baseModel, maxTokens, lostNodes, attempt + 1);
                        }
                        return CompletableFuture.failedFuture(t);
                    });
        });
    }

    /** A node's stream broke before a non-streaming answer was complete (the node died or left). */
    private static final class NodeLost extends RuntimeException {
        final NodeId node;

        NodeLost(NodeId node) {
            super("node " + node + " was lost", null, false, false);
            this.node = node;
        }
    }

    /**
     * Where the request ran: {@code x-loraplex-node}, {@code x-loraplex-adapter-tier}, and
     * {@code x-loraplex-route-ms}: the time from the request's arrival to every choice's {@code Started}
     * (authentication, the body, the tenant's admission, placement and the node's acceptance).
     */
    private static HttpResponse withPlacement(HttpResponse response, List<Started> started, long routedNanos) {
        Started first = started.get(0);
        return response.addHeader(RawHeader.create("x-loraplex-node", first.node().value()))
                .addHeader(RawHeader.create("x-loraplex-adapter-tier", first.adapterTier() == null ? "" : first.adapterTier().apiName()))
                .addHeader(RawHeader.create("x-loraplex-route-ms", String.format(java.util.Locale.ROOT, "%.3f", routedNanos / 1e6)));
    }

    // --- admission ---

    private CompletionStage<TenantProtocol.Admitted> admit(Call call, OpenAiRequest req, boolean base) {
        Caller caller = call.caller();
        int estimate = estimateTokens(req, call.endpoint.equals(Endpoint.COMPLETIONS.label));
        return sharding.entityRefFor(TenantProtocol.TYPE_KEY, caller.tenant().value())
                .<TenantProtocol.Admission>ask(replyTo -> new TenantProtocol.Admit(call.id, caller.keyHash(), TenantProtocol.Scope.CHAT,
                        base ? null : req.model(), estimate, replyTo), settings.admitTimeout())
                .handle((admission, failure) -> {
                    if (failure != null) {
                        throw ApiError.unavailable("The tenant service did not answer within " + seconds(settings.admitTimeout())
                                + "; retry the request.").toException();
                    }
                    return switch (admission) {
                        case TenantProtocol.Admitted a -> a;
                        case TenantProtocol.Denied d -> throw denied(d, req).toException();
                    };
                });
    }

    private static ApiError denied(TenantProtocol.Denied d, OpenAiRequest req) {
        return switch (d.reason()) {
            case UNAUTHORIZED -> ApiError.invalidApiKey("Incorrect API key provided.");
            case FORBIDDEN -> ApiError.forbidden(d.message());
            case MODEL_NOT_FOUND -> ApiError.modelNotFound(req.model());
            // as a request already running on the version is told: the adapter's fault, named
            case MODEL_QUARANTINED -> ApiError.adapterQuarantined(d.message());
            case RATE_LIMITED -> ApiError.rateLimited(d.message(), d.retryAfterMillis());
            case REQUEST_TOO_LARGE -> new ApiError(400, d.message(), ApiError.INVALID_REQUEST,
                    req.sampling().maxTokensParam() != null ? req.sampling().maxTokensParam() : "max_tokens", "request_too_large", 0);
        };
    }

    /** Prompt (about four characters a token) plus every choice's max tokens: what the buckets are asked for. */
    private int estimateTokens(OpenAiRequest req, boolean completions) {
        long prompt = req.promptChars() / 4 + 1;
        Integer max = req.sampling().maxTokens();
        if (max == null && completions) {
            max = settings.completionsDefaultMaxTokens();
        }
        long completion = max == null ? 0 : (long) max * req.choices();
        return (int) Math.min(Integer.MAX_VALUE, prompt + completion);
    }

    /** The request's max tokens within the tenant's per-request cap (400 above it). */
    private Integer maxTokens(Endpoint endpoint, OpenAiRequest req, TenantProtocol.Admitted admitted) {
        Integer asked = req.sampling().maxTokens();
        int cap = admitted.maxTokensPerRequest();
        if (asked != null && asked > cap) {
            String param = req.sampling().maxTokensParam();
            throw ApiError.invalid(param, "'" + param + "' is " + asked + ", above this API key's limit of " + cap
                    + " tokens per request").toException();
        }
        if (asked == null && endpoint == Endpoint.COMPLETIONS) {
            return Math.min(settings.completionsDefaultMaxTokens(), cap);
        }
        return asked; // chat without max_tokens: the node stops at the context's end
    }

    // --- placement and start ---

    private CompletionStage<List<Started>> start(Call call, Endpoint endpoint, OpenAiRequest req, TenantProtocol.Admitted admitted,
            String baseModel, Integer maxTokens, Set<NodeId> lostNodes) {
        int n = req.choices();
        long deadline = req.stream() ? 0 : System.currentTimeMillis() + settings.requestTimeout().toMillis();
        List<CompletableFuture<GenerateReply>> replies = new ArrayList<>(n);
        // required or a named function: the output is constrained to the call(s), arguments by their schema
        GpuNodeProtocol.OutputConstraint toolConstraint = req instanceof ChatRequest chat ? chat.toolUse().constraint() : null;
        for (int i = 0; i < n; i++) {
            // a seed varies by choice within a prompt, so each prompt's choices are what it alone would get
            GpuNodeProtocol.GenerationParams params = req.sampling().params(i % req.n(), maxTokens, req.logprobs(), req.topLogprobs(),
                    deadline, admitted.weight());
            if (toolConstraint != null) {
                params = params.withConstraint(toolConstraint);
            }
            String generationId = n == 1 ? call.id : call.id + "-" + i;
            replies.add(startOne(call, admitted, baseModel, req.prompt(i), params, generationId, new HashSet<>(lostNodes), null, 1));
        }
        return CompletableFuture.allOf(replies.toArray(CompletableFuture[]::new)).handle((ignored, failure) -> {
            List<Started> started = new ArrayList<>(n);
            ApiError problem = null;
            for (CompletableFuture<GenerateReply> reply : replies) {
                if (reply.isCompletedExceptionally()) {
                    problem = problem != null ? problem : askFailure(reply);
                } else if (reply.join() instanceof Started s) {
                    started.add(s);
                } else if (reply.join() instanceof Rejected r) {
                    problem = problem != null ? problem : rejected(r, endpoint, req);
                }
            }
            if (problem != null) {
                started.forEach(s -> cancel(s));
                throw problem.toException();
            }
            Started first = started.get(0);
            if (call.session() != null && admitted.adapter() != null) {
                sessions.served(admitted.tenant(), call.session(), first.adapterTier());
            }
            return started;
        });
    }

    /**
     * Starts one generation on the best node, and on the next one when a node refuses for load or
     * a drain, does not answer in time, or leaves while asked: until one starts it, or
     * {@code max-attempts} nodes were tried (then the last refusal or failure is the answer).
     */
    private CompletableFuture<GenerateReply> startOne(Call call, TenantProtocol.Admitted admitted, String baseModel,
            GpuNodeProtocol.Prompt prompt, GpuNodeProtocol.GenerationParams params, String generationId, Set<NodeId> tried,
            CompletableFuture<GenerateReply> lastAttempt, int attempt) {
        Optional<Placement.NodeView> node = pickFor(call, admitted, baseModel, tried);
        if (node.isEmpty()) {
            if (lastAttempt != null) {
                return lastAttempt;
            }
            return CompletableFuture.failedFuture(ApiError.noNodeReady(baseModel == null
                    ? "No GPU node is ready to serve this request; retry later."
                    : "No GPU node serving " + baseModel + " is ready; retry later.", settings.noNodeRetryAfter()).toException());
        }
        ActorRef<GpuNodeProtocol.Command> ref = node.get().ref();
        CompletableFuture<GenerateReply> asked = AskPattern.<GpuNodeProtocol.Command, GenerateReply>ask(ref,
                replyTo -> new GpuNodeProtocol.Generate(generationId, admitted.tenant(), admitted.adapter(), prompt, params, replyTo),
                settings.generateTimeout(), system.scheduler()).toCompletableFuture();
        CompletableFuture<GenerateReply> reply = asked.applyToEither(placement.gone(ref).thenApply(d -> (GenerateReply) null), r -> r)
                .thenApply(r -> {
                    if (r == null) {
                        throw ApiError.unavailable("GPU node " + node.get().id() + " left while starting the request; retry it.")
                                .toException();
                    }
                    return r;
                });
        reply.whenComplete((r, failure) -> {
            if (r instanceof Started) {
                call.atEnd(() -> placement.release(ref));
            } else {
                placement.release(ref);
            }
        });
        return reply.handle((r, failure) -> {
            boolean retry = failure != null || (r instanceof Rejected rejected && rejected.reason() == GpuNodeProtocol.RejectReason.OVERLOADED);
            if (!retry || attempt >= maxAttempts) {
                return reply;
            }
            if (failure != null) {
                log.info("request {}: node {} did not start it ({}); trying another node", call.id, node.get().id(),
                        Responses.unwrap(failure).toString());
            }
            tried.add(node.get().id());
            return startOne(call, admitted, baseModel, prompt, params, generationId, tried, reply, attempt + 1);
        }).thenCompose(f -> f);
    }

    /** The session's node while it can take the request, else placement's choice (which the session is then bound to). */
    private Optional<Placement.NodeView> pickFor(Call call, TenantProtocol.Admitted admitted, String baseModel, Set<NodeId> tried) {
        String session = call.session();
        if (session != null) {
            Optional<NodeId> bound = sessions.nodeOf(admitted.tenant(), session);
            if (bound.isPresent() && !tried.contains(bound.get())) {
                Optional<Placement.NodeView> node = placement.rank(admitted.adapter(), baseModel, tried).stream()
                        .filter(n -> n.id().equals(bound.get())).findFirst();
                if (node.isPresent()) {
                    placement.acquire(node.get().ref());
                    return node;
                }
            }
        }
        Optional<Placement.NodeView> chosen = placement.choose(admitted.adapter(), baseModel, tried);
        if (session != null && chosen.isPresent()) {
            sessions.bind(admitted.tenant(), session, String.valueOf(admitted.adapter() == null ? baseModel : admitted.adapter().name()),
                    chosen.get().id());
        }
        return chosen;
    }

    private ApiError askFailure(CompletableFuture<GenerateReply> reply) {
        Throwable t = reply.handle((r, e) -> Responses.unwrap(e)).join();
        if (t instanceof ApiException api) {
            return api.error();
        }
        if (t instanceof TimeoutException) {
            return ApiError.unavailable("The GPU node did not answer within " + seconds(settings.generateTimeout())
                    + "; retry the request.");
        }
        log.error("could not reach the GPU node", t);
        return ApiError.internal("The server could not reach the GPU node; retry the request.");
    }

    /** A node's refusal as the HTTP error it stands for; parameters are named as the client wrote them. */
    private static ApiError rejected(Rejected r, Endpoint endpoint, OpenAiRequest req) {
        String param = r.param();
        if (endpoint == Endpoint.COMPLETIONS && "messages".equals(param)) {
            param = "prompt";
        } else if ("max_tokens".equals(param)) {
            param = req.sampling().maxTokensParam() != null ? req.sampling().maxTokensParam() : param;
        }
        String message = r.message() == null ? r.reason().name() : r.message();
        if ("response_format".equals(param) && req instanceof ChatRequest chat && chat.toolUse().constraint() != null) {
            // forced calls are constrained by the tools' schemas (and take precedence over response_format)
            param = "tools";
            message = chat.toolUse().refusal(message);
        }
        return switch (r.reason()) {
            case INVALID_REQUEST -> ApiError.invalid(param, message);
            case CONTEXT_LENGTH_EXCEEDED -> new ApiError(400, message, ApiError.INVALID_REQUEST, param, "context_length_exceeded", 0);
            case ADAPTER_NOT_FOUND -> new ApiError(404, message, ApiError.INVALID_REQUEST, "model", "model_not_found", 0);
            case ADAPTER_INVALID -> new ApiError(422, message, ApiError.INVALID_REQUEST, "model", "invalid_adapter", 0);
            case OVERLOADED -> ApiError.unavailable(message);
            case INTERNAL -> ApiError.internal(message);
        };
    }

    /** Cancels a stream nobody will read: the node stops the generation and frees its memory. */
    private void cancel(Started started) {
        started.tokens().getSource().runWith(Sink.cancelled(), system);
    }

    // --- responses ---

    /**
     * The SSE response. The body is taken once: by the HTTP layer, or, if the client left before the
     * response went out, by a timer that cancels the node streams so nothing leaks.
     */
    private HttpResponse stream(Call call, Endpoint endpoint, OpenAiRequest req, OpenAiWriter.Meta meta, List<Started> started) {
        SseEncoder encoder = new SseEncoder(call, req, endpoint.writer, meta, promptTokens(started, req.n()));
        Source<SseEncoder.Tagged, NotUsed> events = started.size() == 1
                ? tagged(started.get(0), 0)
                : Source.range(0, started.size() - 1).flatMapMerge(started.size(), i -> tagged(started.get(i), i));
        Source<ByteString, NotUsed> body = Source.from(encoder.opening())
                .concat(events
                        .recover(new PFBuilder<Throwable, SseEncoder.Tagged>().match(Throwable.class, encoder::broken).build())
                        .mapConcat(encoder::onEvent)
                        .takeWhile(SseEncoder.Out::more, true)
                        .map(SseEncoder.Out::bytes))
                .concatLazy(Source.lazySource(() -> Source.from(encoder.closing())).mapMaterializedValue(m -> NotUsed.getInstance()))
                .keepAlive(settings.sseKeepAlive(), () -> SseEncoder.KEEP_ALIVE)
                .watchTermination((mat, done) -> {
                    done.whenComplete((d, t) -> encoder.ended());
                    return mat;
                });
        AtomicBoolean taken = new AtomicBoolean();
        Source<ByteString, NotUsed> once = Source.<ByteString, NotUsed>fromMaterializer((mat, attributes) -> taken.compareAndSet(false, true)
                        ? body
                        : Source.failed(new IllegalStateException("the body of " + call.id + " was taken already")))
                .mapMaterializedValue(m -> NotUsed.getInstance());
        system.scheduler().scheduleOnce(settings.streamStartTimeout(), () -> {
            if (taken.compareAndSet(false, true)) {
                started.forEach(this::cancel);
                call.end(499, promptTokens(started, req.n()), 0);
            }
        }, system.executionContext());
        return HttpResponse.create()
                .withStatus(200)
                .addHeader(RawHeader.create("Cache-Control", "no-cache"))
                .addHeader(RawHeader.create("X-Accel-Buffering", "no"))
                .withEntity(HttpEntities.createChunked(Responses.EVENT_STREAM, once));
    }

    /** The prompts' tokens as the nodes counted them at the start: each prompt once, from its first of {@code n} choices. */
    private static int promptTokens(List<Started> started, int n) {
        int tokens = 0;
        for (int i = 0; i < started.size(); i += n) {
            tokens += started.get(i).promptTokens();
        }
        return tokens;
    }

    private static Source<SseEncoder.Tagged, NotUsed> tagged(Started started, int index) {
        return started.tokens().getSource().map(event -> new SseEncoder.Tagged(index, event))
                .recover(new PFBuilder<Throwable, SseEncoder.Tagged>().match(Throwable.class, t -> new SseEncoder.Tagged(index,
                        new GpuNodeProtocol.Failed(brokenMessage(started, t)))).build());
    }

    /** What a client is told when a node's stream breaks: which node, and that the answer is incomplete. */
    static String brokenMessage(Started started, Throwable t) {
        return "the GPU node " + started.node().value() + " serving this request stopped answering (it failed or left the cluster)"
                + "; the response is incomplete, retry the request (" + Responses.unwrap(t).getMessage() + ")";
    }

    /** The non-streaming response: every choice read to its end, then one body. */
    private CompletionStage<HttpResponse> collect(Call call, Endpoint endpoint, OpenAiRequest req, OpenAiWriter.Meta meta,
            List<Started> started, boolean mayRetry) {
        List<CompletableFuture<ChoiceProgress>> results = new ArrayList<>(started.size());
        for (int i = 0; i < started.size(); i++) {
            ChoiceProgress progress = new ChoiceProgress(i, call, true);
            Started choice = started.get(i);
            results.add(choice.tokens().getSource()
                    .runWith(Sink.fold(progress, ChoiceProgress::add), system)
                    .toCompletableFuture()
                    .exceptionally(t -> progress.broken(choice.node(), brokenMessage(choice, t))));
        }
        return CompletableFuture.allOf(results.toArray(CompletableFuture[]::new)).thenApply(ignored -> {
            List<ChoiceProgress> choices = results.stream().map(CompletableFuture::join).toList();
            Optional<NodeId> lost = choices.stream().map(ChoiceProgress::lostNode).filter(java.util.Objects::nonNull).findFirst();
            if (mayRetry && lost.isPresent()) {
                started.forEach(this::cancel);
                throw new NodeLost(lost.get());
            }
            OpenAiWriter.Usage usage = ChoiceProgress.usage(choices, promptTokens(started, req.n()), req.n());
            for (ChoiceProgress c : choices) {
                String failure = c.failureOrMissingEnd();
                if (failure != null) {
                    ApiError error = ApiError.generationFailed(c.failureCode, failure);
                    call.end(error.status(), usage.promptTokens(), usage.completionTokens());
                    throw error.toException();
                }
            }
            call.end(200, usage.promptTokens(), usage.completionTokens());
            ToolUse toolUse = req instanceof ChatRequest chat ? chat.toolUse() : ToolUse.NONE;
            List<OpenAiWriter.Choice> out = choices.stream().map(c -> ToolCalls.answer(c.choice(req.logprobs()), toolUse)).toList();
            return Responses.json(200, endpoint.writer.response(meta, out, usage));
        });
    }

    private static String newId() {
        byte[] bytes = new byte[12];
        RANDOM.nextBytes(bytes);
        return HexFormat.of().formatHex(bytes);
    }

    private static String seconds(Duration d) {
        return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
    }
}
