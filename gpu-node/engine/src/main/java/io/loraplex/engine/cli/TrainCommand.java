package io.loraplex.engine.cli;

import io.loraplex.cluster.ContentHash;
import io.loraplex.engine.ServedModel;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.train.Dataset;
import io.loraplex.engine.train.ExampleEncoder;
import io.loraplex.engine.train.ProgressListener;
import io.loraplex.engine.train.TrainedAdapter;
import io.loraplex.engine.train.Trainer;
import io.loraplex.engine.train.TrainingOptions;
import io.loraplex.engine.train.TrainingStats;
import io.loraplex.engine.tokenizer.ChatTemplate;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * {@code loraplex train --model DIR --data FILE --out DIR}: fine-tunes a LoRA adapter on a JSONL
 * dataset and writes it as a PEFT directory with {@code training.json}. Dataset problems are listed
 * with their lines (exit 2); progress, one line per optimizer step, goes to stderr; the final
 * losses and the adapter's content hash to stdout.
 */
final class TrainCommand {

    private TrainCommand() {
    }

    static Flags flags() {
        TrainingOptions d = TrainingOptions.defaults(0);
        return new Flags("train", "--model DIR --data FILE --out DIR [flags]")
                .option("model", null, "base model directory")
                .option("data", null, "JSONL dataset: {\"messages\": [...]} or {\"instruction\", \"input\", \"output\"} per line")
                .option("out", null, "adapter directory to write")
                .option("rank", Integer.toString(d.rank()), "LoRA rank r")
                .option("alpha", "32", "lora_alpha")
                .option("dropout", "0.05", "dropout on the LoRA inputs")
                .option("targets", "q_proj,k_proj,v_proj,o_proj", "adapted projections, comma-separated, or all-linear")
                .option("epochs", Integer.toString(d.epochs()), "passes over the training examples")
                .option("batch-size", Integer.toString(d.batchSize()), "examples per micro-batch")
                .option("grad-accum", Integer.toString(d.gradAccum()), "micro-batches per optimizer step")
                .option("learning-rate", "2e-4", "AdamW peak learning rate (linear warmup, then cosine decay)")
                .option("weight-decay", "0.0", "AdamW decoupled weight decay")
                .option("warmup-ratio", "0.03", "share of the steps spent warming the learning rate up")
                .option("max-grad-norm", "1.0", "clip gradients to this global norm (0: off)")
                .flag("rslora", "rank-stabilised scale alpha/sqrt(r) instead of alpha/r")
                .option("val-split", "0.1", "share of examples held out for validation (seeded)")
                .flag("early-stop", "stop when an epoch's validation loss is worse than the best, keeping the best")
                .option("seed", "0", "seed of the split, the order, the initialisation and dropout")
                .option("threads", "2", "CPU threads");
    }

    static int run(Flags f, PrintStream out, PrintStream err) throws Exception {
        Path modelDir = Path.of(f.required("model"));
        Path data = Path.of(f.required("data"));
        Path outDir = Path.of(f.required("out"));
        TrainingOptions options = options(f);
        if (!Files.isRegularFile(data)) {
            throw f.bad("--data: file not found: " + data);
        }
        try (ServedModel served = ServedModel.load(modelDir, null)) {
            ChatTemplate template = served.chatTemplate().orElseThrow(
                    () -> f.bad(modelDir + " has no chat template; training renders examples with it"));
            Dataset.Parsed parsed = Dataset.read(data);
            Dataset.Encoded encoded = Dataset.encode(parsed.examples(), new ExampleEncoder(template, served.tokenizer()),
                    served.model().config().maxPositionEmbeddings());
            List<Dataset.Problem> problems = new ArrayList<>(parsed.problems());
            problems.addAll(encoded.problems());
            problems.sort(java.util.Comparator.comparingInt(Dataset.Problem::line));
            if (!problems.isEmpty()) {
                throw f.bad(new Dataset.DatasetException(data.toString(), problems).getMessage());
            }
            for (String warning : parsed.warnings()) {
                err.println("train: warning: " + data + ": " + warning);
            }
            err.printf("train: %d examples from %s on %s (%.1fM parameters), rank %d on %s, %d epochs%n",
                    encoded.examples().size(), data, modelDir, served.model().config().parameterCount() / 1e6, options.rank(),
                    f.required("targets"), options.epochs());
            TrainedAdapter trained = new Trainer(served.model(), options).train(encoded.examples(), progress(err));
            ContentHash hash = trained.write(outDir, TrainedAdapter.sha256(data));
            TrainingStats s = trained.stats();
            out.printf("wrote %s (content hash %s)%n", outDir, hash.hex());
            out.printf("final training loss %.4f over %d examples; validation loss %s over %d examples%n", s.finalTrainLoss(),
                    s.trainExamples(), Double.isNaN(s.finalValLoss()) ? "n/a" : String.format("%.4f", s.finalValLoss()),
                    s.valExamples());
            out.printf("%d tokens in %.1f s (%.1f training tokens/s)%n", s.tokens(), s.seconds(), s.tokensPerSecond());
        }
        return 0;
    }

    /** One line per step: a bar of the run's progress, the step's loss and learning rate. */
    static ProgressListener progress(PrintStream err) {
        return new ProgressListener() {
            @Override
            public void onStep(Step s) {
                int width = 24;
                int done = (int) Math.round(width * (double) s.step() / s.steps());
                err.printf("train: [%s%s] step %d/%d epoch %d/%d loss %.4f lr %.2e (%.0f tok/s)%n", "#".repeat(done),
                        ".".repeat(width - done), s.step(), s.steps(), s.epoch(), s.epochs(), s.loss(), s.learningRate(),
                        s.tokens() / Math.max(1e-9, s.seconds()));
            }

            @Override
            public void onEpoch(Epoch e) {
                err.printf("train: epoch %d/%d: training loss %.4f, validation loss %s%s%n", e.epoch(), e.epochs(), e.trainLoss(),
                        Double.isNaN(e.valLoss()) ? "n/a" : String.format("%.4f", e.valLoss()),
                        e.stoppedEarly() ? " (worse than the best: stopping early, keeping the best)" : "");
            }
        };
    }

    static TrainingOptions options(Flags f) {
        String spec = f.required("targets");
        boolean allLinear = spec.equals("all-linear");
        Set<TargetModule> targets = EnumSet.noneOf(TargetModule.class);
        if (allLinear) {
            targets = EnumSet.allOf(TargetModule.class);
        } else {
            for (String name : spec.split(",")) {
                TargetModule m = TargetModule.ofShortName(name.trim());
                // Phi-3's fused modules name their parts together
                io.loraplex.engine.lora.PeftModule fused = name.trim().equals("qkv_proj") ? io.loraplex.engine.lora.PeftModule.QKV_PROJ
                        : name.trim().equals("gate_up_proj") ? io.loraplex.engine.lora.PeftModule.GATE_UP_PROJ : null;
                if (m == null && fused == null) {
                    throw f.bad("--targets: unknown module '" + name.trim()
                            + "' (use q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj, qkv_proj,gate_up_proj for Phi-3, "
                            + "or all-linear)");
                }
                if (fused != null) {
                    targets.addAll(fused.parts());
                } else {
                    targets.add(m);
                }
            }
        }
        try {
            return new TrainingOptions(f.integer("rank"), f.decimal("alpha"), f.decimal("dropout"), targets, allLinear,
                    f.integer("epochs"), f.integer("batch-size"), f.integer("grad-accum"), f.decimal("learning-rate"),
                    f.decimal("weight-decay"), f.decimal("warmup-ratio"), f.decimal("max-grad-norm"), f.has("rslora"),
                    f.decimal("val-split"), f.has("early-stop"), f.longValue("seed"), f.integer("threads"));
        } catch (IllegalArgumentException e) {
            throw f.bad(e.getMessage());
        }
    }
}
