package io.loraplex.engine.batch;

import io.loraplex.engine.constrain.ConstraintState;
import io.loraplex.engine.sample.Finish;
import io.loraplex.engine.sample.SampledToken;
import io.loraplex.engine.sample.Sampler;
import io.loraplex.engine.sample.SamplingParams;
import io.loraplex.engine.sample.StopChecker;
import io.loraplex.engine.sample.StopStringMatcher;
import io.loraplex.engine.tokenizer.IncrementalDecoder;
import io.loraplex.engine.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.List;

/**
 * Turns one request's logits into its output: samples a token, decides whether it finishes the
 * request, and yields the text that is safe to show (complete UTF-8 characters, never a prefix of
 * a stop string). Without a tokenizer it works on token ids alone and yields no text.
 *
 * <p>Under an output constraint, each token is sampled from the tokens that keep the output a valid
 * prefix (eos only once it is complete), and the request stops as soon as its output is a complete
 * value that nothing can extend, or when it samples eos there.
 */
public final class OutputProcessor {

    /** What one sampled token produced: the token, text to emit now, and the finish if it ended. */
    public record Step(SampledToken sampled, String text, Finish finish) {
    }

    private final Sampler sampler;
    private final StopChecker stopChecker;
    private final StopStringMatcher stopStrings;
    private final IncrementalDecoder decoder;
    private final ConstraintState constraint; // null: free text
    private final List<Integer> generated = new ArrayList<>();
    private final List<Integer> eosIds;
    private Finish finish;

    public OutputProcessor(Tokenizer tokenizer, SamplingParams params, int vocabSize, List<Integer> eosIds, int[] prompt) {
        this.sampler = new Sampler(params, vocabSize);
        this.eosIds = List.copyOf(eosIds);
        this.sampler.observePrompt(prompt);
        this.stopChecker = new StopChecker(params, eosIds);
        this.stopStrings = new StopStringMatcher(params.stop());
        // decoded after the prompt, so the first token keeps its leading space: prompt text + output = decode(all)
        this.decoder = tokenizer == null ? null : new IncrementalDecoder(tokenizer, true, prompt);
        this.constraint = params.constraint() == null ? null : new ConstraintState(params.constraint(), eosIds);
    }

    /** Samples from {@code logits[offset…offset+V)} and advances the request. */
    public Step next(float[] logits, int offset) {
        if (finish != null) {
            throw new IllegalStateException("the request has already finished: " + finish);
        }
        SampledToken sampled = constraint == null ? sampler.next(logits, offset) : sampler.next(logits, offset, constraint.allowed());
        int token = sampled.token();
        generated.add(token);
        Finish f = stopChecker.check(token, generated.size());
        // a stop token's own text is not part of the output (eos and stop_token_ids alike)
        String text = decoder == null || (f != null && f.reason() == io.loraplex.engine.sample.FinishReason.STOP) ? ""
                : decoder.add(token);
        if (constraint != null) {
            boolean completeBefore = constraint.accepting();
            constraint.advance(token);
            if (completeBefore && isEos(token)) {
                f = Finish.eos(); // even under ignore_eos: nothing valid could follow a complete value
                text = "";
            } else if ((f == null || f.reason() == io.loraplex.engine.sample.FinishReason.LENGTH) && constraint.finished()) {
                f = Finish.of(io.loraplex.engine.sample.FinishReason.STOP); // the value is complete and nothing may extend it
            }
        }
        StopStringMatcher.Emit emit = stopStrings.feed(text);
        String out = emit.text();
        if (emit.stopped()) {
            f = Finish.stopString(emit.stop());
        } else if (f != null) {
            out += stopStrings.feed(decoder == null ? "" : decoder.flush()).text() + stopStrings.flush();
        }
        finish = f;
        return new Step(sampled, out, f);
    }

    /** Ends the request for an outside reason (cancel, deadline, context full); returns held-back text. */
    public String finish(Finish reason) {
        if (finish != null) {
            return "";
        }
        finish = reason;
        StopStringMatcher.Emit emit = stopStrings.feed(decoder == null ? "" : decoder.flush());
        return emit.stopped() ? emit.text() : emit.text() + stopStrings.flush();
    }

    private boolean isEos(int token) {
        return eosIds.contains(token);
    }

    public Finish finished() {
        return finish;
    }

    public List<Integer> generated() {
        return generated;
    }
}
