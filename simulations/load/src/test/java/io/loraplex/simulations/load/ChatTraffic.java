package io.loraplex.simulations.load;

import static io.gatling.javaapi.core.CoreDsl.StringBody;
import static io.gatling.javaapi.core.CoreDsl.constantUsersPerSec;
import static io.gatling.javaapi.core.CoreDsl.exec;
import static io.gatling.javaapi.core.CoreDsl.group;
import static io.gatling.javaapi.core.CoreDsl.jsonPath;
import static io.gatling.javaapi.core.CoreDsl.rampUsersPerSec;
import static io.gatling.javaapi.core.CoreDsl.scenario;
import static io.gatling.javaapi.core.CoreDsl.substring;
import static io.gatling.javaapi.http.HttpDsl.http;
import static io.gatling.javaapi.http.HttpDsl.sse;
import static io.gatling.javaapi.http.HttpDsl.status;

import io.gatling.javaapi.core.ChainBuilder;
import io.gatling.javaapi.core.OpenInjectionStep;
import io.gatling.javaapi.core.ScenarioBuilder;
import io.gatling.javaapi.http.HttpProtocolBuilder;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;

/**
 * The multi-tenant chat load every simulation runs: sessions arrive on an open model (ramp, plateau, burst, plateau);
 * each picks an adapter by the Zipf law, opens a session ({@code POST /v1/sessions}, which makes the adapter hot on the
 * session's node), then sends its turns with think time between them, streamed or not, greedy or sampled.
 *
 * <p>Time to first token is measured by Gatling: the group named {@value #TTFT} spans sending a streaming request to
 * the arrival of its first token event (the first {@code delta} with content, or the final empty delta; the opening
 * role-only chunk does not count). Inside it, {@value #STREAM} is the time to the response's headers and
 * {@value #FIRST_TOKEN} the time from the headers to that event; the group's time (their sum, Gatling's cumulated
 * response time) is what the assertions bound. {@value #STREAM_DONE} runs from the first token to {@code [DONE]}. A
 * non-streamed turn's time ({@value #CHAT}) is its whole answer.
 */
final class ChatTraffic {

    static final String SESSION = "open session";
    static final String CHAT = "chat";
    static final String STREAM = "chat stream";
    static final String TTFT = "time to first token";
    static final String FIRST_TOKEN = "first token after headers";
    static final String STREAM_DONE = "stream to [DONE]";

    private ChatTraffic() {
    }

    static HttpProtocolBuilder protocol(LoadSettings settings) {
        // no protocol-wide Content-Type: Gatling would put it on the multipart uploads too; each JSON request sets its own
        return http.baseUrl(settings.url().toString()).acceptHeader("application/json, text/event-stream")
                .userAgentHeader("loraplex-load (Gatling)");
    }

    /** The open-model arrivals of new sessions: ramp from 0, plateau, burst, plateau again. */
    static List<OpenInjectionStep> arrivals(LoadSettings.Arrival a) {
        return List.of(rampUsersPerSec(0).to(a.rate()).during(a.ramp()), constantUsersPerSec(a.rate()).during(a.steady()).randomized(),
                constantUsersPerSec(a.burstRate()).during(a.burst()).randomized(), constantUsersPerSec(a.rate()).during(a.tail()).randomized());
    }

    static ScenarioBuilder sessions(String name, LoadSetup setup) {
        LoadSettings.SessionShape s = setup.settings().session();
        SplittableRandom seeds = new SplittableRandom(setup.runId().hashCode());
        Iterator<Map<String, Object>> feeder = Stream.generate(() -> {
            synchronized (seeds) {
                return LoadSetup.record(setup.pick(seeds));
            }
        }).iterator();
        long timeoutSeconds = s.timeout().toSeconds();
        // the group spans sending the request to its first token event: Gatling times the connect up to the response's
        // headers and the message check from there, so the group's cumulated time is the whole time to first token
        ChainBuilder streamed = group(TTFT).on(exec(sse(STREAM).sseName("chat").post("/v1/chat/completions")
                .header("Authorization", "Bearer #{chatKey}").header("X-Session-Id", "#{sessionId}").header("Content-Type", "application/json").body(StringBody("#{body}"))
                .await(timeoutSeconds).on(sse.checkMessage(FIRST_TOKEN).matching(
                        jsonPath("$.data").transform(data -> ChatBodies.TOKEN_EVENT.matcher(data).find()).is(true)))))
                .exec(sse(STREAM_DONE).sseName("chat").setCheck().await(timeoutSeconds).on(sse.checkMessage(STREAM_DONE).matching(substring("[DONE]"))))
                .exec(sse("close stream").sseName("chat").close())
                .exec(session -> session.set("answer", ""));
        ChainBuilder plain = exec(http(CHAT).post("/v1/chat/completions").header("Authorization", "Bearer #{chatKey}")
                .header("X-Session-Id", "#{sessionId}").header("Content-Type", "application/json").body(StringBody("#{body}"))
                .check(status().is(200), jsonPath("$.choices[0].message.content").saveAs("answer")));
        return scenario(name).feed(feeder)
                .exec(http(SESSION).post("/v1/sessions").header("Authorization", "Bearer #{chatKey}")
                        .header("Content-Type", "application/json").body(StringBody("{\"model\": \"#{model}\"}")).check(status().is(200), jsonPath("$.id").saveAs("sessionId")))
                .exec(session -> session.set("history", List.<ChatBodies.Message>of()))
                .repeat(s.turns()).on(
                        exec(session -> {
                            SplittableRandom random = new SplittableRandom(session.userId() * 31L + session.getList("history").size());
                            ChatBodies.TurnShape shape = ChatBodies.shape(random, s.streamShare(), s.samplingShare());
                            String question = ChatBodies.question(random);
                            List<ChatBodies.Message> history = session.getList("history");
                            return session.set("stream", shape.stream()).set("question", question)
                                    .set("body", ChatBodies.chat(session.getString("model"), history, question, shape, s.maxTokens()));
                        })
                        .doIfOrElse(session -> session.getBoolean("stream")).then(streamed).orElse(plain)
                        .exec(session -> session.set("history", ChatBodies.after(session.getList("history"),
                                session.getString("question"), session.getString("answer"))))
                        .pause(s.thinkMin(), s.thinkMax()));
    }
}
