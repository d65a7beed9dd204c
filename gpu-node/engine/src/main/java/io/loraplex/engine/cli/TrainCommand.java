package io.loraplex.engine.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code loraplex train --model DIR --data FILE --out DIR}: fine-tunes a LoRA adapter on a JSONL
 * dataset and writes it as a PEFT directory with {@code training.json}. With several {@code --data}
 * it trains one adapter per dataset in one job (their steps share the passes over the base) and
 * writes each to {@code OUT/<dataset name>}, listed in {@code OUT/manifest.json}. Dataset problems are listed
 * with their lines (exit 2); progress, one line per optimizer step, goes to stderr; the final
 * losses and the adapter's content hash to stdout.
 */
final class TrainCommand {

    private TrainCommand() {
    }

    static Flags flags() {
        TrainingOptions d = TrainingOptions.defaults(0);
        return new Flags("train", "--model DIR --data FILE [--data FILE ...] --out DIR [flags]")
                .option("model", null, "base model directory")
                .repeatable("data", "JSONL dataset: {\"messages\": [...]} or {\"instruction\", \"input\", \"output\"} per line; "
                        + "several train one adapter each in one job")
                .option("out", null, "adapter directory to write; with several --data, the directory of one adapter per "
                        + "dataset (named after its file) and manifest.json")
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
        List<Path> data = f.strings("data").stream().map(Path::of).toList();
        if (data.isEmpty()) {
            throw f.bad("--data is required: a JSONL dataset, repeated for one adapter per dataset (see loraplex train --help)");
        }
        Path outDir = Path.of(f.required("out"));
        TrainingOptions options = options(f);
        for (Path d : data) {
            if (!Files.isRegularFile(d)) {
                throw f.bad("--data: file not found: " + d);
            }
        }
        List<Path> adapterDirs = adapterDirs(f, data, outDir);
        try (ServedModel served = ServedModel.load(modelDir, null)) {
            ChatTemplate template = served.chatTemplate().orElseThrow(
                    () -> f.bad(modelDir + " has no chat template; training renders examples with it"));
            ExampleEncoder encoder = new ExampleEncoder(template, served.tokenizer());
            List<Trainer.Job> jobs = new ArrayList<>();
            for (Path d : data) {
                Dataset.Parsed parsed = Dataset.read(d);
                Dataset.Encoded encoded = Dataset.encode(parsed.examples(), encoder, served.model().config().maxPositionEmbeddings());
                List<Dataset.Problem> problems = new ArrayList<>(parsed.problems());
                problems.addAll(encoded.problems());
                problems.sort(java.util.Comparator.comparingInt(Dataset.Problem::line));
                if (!problems.isEmpty()) {
                    throw f.bad(new Dataset.DatasetException(d.toString(), problems).getMessage());
                }
                for (String warning : parsed.warnings()) {
                    err.println("train: warning: " + d + ": " + warning);
                }
                err.printf("train: %d examples from %s on %s (%.1fM parameters), rank %d on %s, %d epochs%n",
                        encoded.examples().size(), d, modelDir, served.model().config().parameterCount() / 1e6, options.rank(),
                        f.required("targets"), options.epochs());
                String label = data.size() == 1 ? "" : adapterDirs.get(jobs.size()).getFileName() + ": ";
                jobs.add(Trainer.Job.split(options, encoded.examples(), progress(err, label)));
            }
            if (jobs.size() > 1) {
                err.printf("train: %d adapters in one job: their steps share each pass over the base%n", jobs.size());
            }
            List<TrainedAdapter> trained = new Trainer(served.model(), options).trainAll(jobs);
            ArrayNode manifest = JSON.createArrayNode();
            for (int i = 0; i < trained.size(); i++) {
                ContentHash hash = trained.get(i).write(adapterDirs.get(i), TrainedAdapter.sha256(data.get(i)));
                TrainingStats s = trained.get(i).stats();
                out.printf("wrote %s (content hash %s)%n", adapterDirs.get(i), hash.hex());
                out.printf("final training loss %.4f over %d examples; validation loss %s over %d examples%n", s.finalTrainLoss(),
                        s.trainExamples(), Double.isNaN(s.finalValLoss()) ? "n/a" : String.format("%.4f", s.finalValLoss()),
                        s.valExamples());
                out.printf("%d tokens in %.1f s (%.1f training tokens/s)%n", s.tokens(), s.seconds(), s.tokensPerSecond());
                ObjectNode entry = manifest.addObject();
                entry.put("data", data.get(i).toString());
                entry.put("adapter", adapterDirs.get(i).getFileName().toString());
                entry.put("content_hash", hash.hex());
                entry.put("final_train_loss", s.finalTrainLoss());
                if (!Double.isNaN(s.finalValLoss())) {
                    entry.put("final_val_loss", s.finalValLoss());
                }
            }
            if (data.size() > 1) {
                ObjectNode root = JSON.createObjectNode();
                root.set("adapters", manifest);
                Files.writeString(outDir.resolve(MANIFEST), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root));
                out.printf("wrote %s (%d adapters)%n", outDir.resolve(MANIFEST), data.size());
            }
        }
        return 0;
    }

    /** With several datasets, the file listing each dataset's adapter under {@code --out}. */
    static final String MANIFEST = "manifest.json";

    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * Where each dataset's adapter goes: {@code --out} itself for one dataset; for several, a
     * directory under it named after the dataset's file ({@code cafe.jsonl → OUT/cafe}), which must
     * differ between datasets.
     */
    static List<Path> adapterDirs(Flags f, List<Path> data, Path outDir) {
        if (data.size() == 1) {
            return List.of(outDir);
        }
        Map<String, Path> byName = new LinkedHashMap<>();
        List<Path> dirs = new ArrayList<>();
        for (Path d : data) {
            String file = d.getFileName().toString();
            int dot = file.lastIndexOf('.');
            String name = dot > 0 ? file.substring(0, dot) : file;
            Path earlier = byName.putIfAbsent(name, d);
            if (earlier != null) {
                throw f.bad("--data: " + earlier + " and " + d + " would both write " + outDir.resolve(name)
                        + "; give the datasets different file names");
            }
            dirs.add(outDir.resolve(name));
        }
        return dirs;
    }

    /** One line per step: a bar of the run's progress, the step's loss and learning rate. */
    static ProgressListener progress(PrintStream err) {
        return progress(err, "");
    }

    /** As above, each line's message after {@code label} (the adapter's name when several train together). */
    static ProgressListener progress(PrintStream err, String label) {
        return new ProgressListener() {
            @Override
            public void onStep(Step s) {
                int width = 24;
                int done = (int) Math.round(width * (double) s.step() / s.steps());
                err.printf("train: %s[%s%s] step %d/%d epoch %d/%d loss %.4f lr %.2e (%.0f tok/s)%n", label, "#".repeat(done),
                        ".".repeat(width - done), s.step(), s.steps(), s.epoch(), s.epochs(), s.loss(), s.learningRate(),
                        s.tokens() / Math.max(1e-9, s.seconds()));
            }

            @Override
            public void onEpoch(Epoch e) {
                err.printf("train: %sepoch %d/%d: training loss %.4f, validation loss %s%s%n", label, e.epoch(), e.epochs(), e.trainLoss(),
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
