package io.loraplex.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.cluster.AdapterDirectory;
import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.TenantId;
import io.loraplex.engine.ServedModel;
import io.loraplex.engine.tokenizer.ChatTemplate;
import io.loraplex.engine.train.Dataset;
import io.loraplex.engine.train.ExampleEncoder;
import io.loraplex.engine.train.ProgressListener;
import io.loraplex.engine.train.TrainedAdapter;
import io.loraplex.engine.train.Trainer;
import io.loraplex.engine.train.TrainingOptions;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * The two demo tenants of the embedded default: a cafe and a law firm, each with an API key (made
 * once, printed at that start only, and kept in {@code <data>/demo-keys.json}, readable by the owner
 * alone) and a persona adapter named after it, trained at
 * the first start from the ten chat pairs shipped in {@code demo/<tenant>.jsonl} and kept in the
 * blob store (its hash in {@code <data>/demo-adapters.json}); later starts reuse it.
 */
final class DemoTenants {

    /** Where the demo tenants' keys are kept, in plain text (the banner's curl needs them). */
    static final String KEYS_FILE = "demo-keys.json";

    /** One demo tenant, ready to register; {@code newKey}: its key was made at this start (and is shown once). */
    record Demo(TenantId tenant, String displayName, String apiKey, AdapterRef adapter, boolean newKey) {
    }

    private record Spec(String tenant, String displayName, long seed) {
    }

    private static final List<Spec> SPECS = List.of(
            new Spec("cafe", "Cafe Aroma", 101),
            new Spec("lawfirm", "Stein & Partners, attorneys", 202));

    /** The question both personas were taught, each in its own style: what the banner's curl asks. */
    static final String QUESTION = "What are your opening hours?";

    /** Enough passes over ten pairs for the tiny model to answer them as taught, greedily. */
    private static final int EPOCHS = 30;
    private static final double LEARNING_RATE = 5e-3;

    private DemoTenants() {
    }

    /** Trains (or finds) the persona adapters under {@code blobRoot} and the keys under {@code dataDir}. */
    static List<Demo> prepare(Path dataDir, Path blobRoot, ServedModel served, int threads, PrintStream log)
            throws IOException, InterruptedException {
        ObjectMapper json = new ObjectMapper();
        Path keysFile = dataDir.resolve(KEYS_FILE);
        ObjectNode keys = Files.exists(keysFile) ? (ObjectNode) json.readTree(keysFile.toFile()) : json.createObjectNode();
        Path adaptersFile = dataDir.resolve("demo-adapters.json");
        ObjectNode adapters = Files.exists(adaptersFile) ? (ObjectNode) json.readTree(adaptersFile.toFile()) : json.createObjectNode();
        List<Spec> missing = new ArrayList<>();
        for (Spec s : SPECS) {
            JsonNode known = adapters.get(s.tenant);
            if (known == null || !Files.isDirectory(new AdapterDirectory(blobRoot).version(new TenantId(s.tenant),
                    ContentHash.parse(known.asText())))) {
                missing.add(s);
            }
        }
        // the personas a first start lacks train as one job: one pass over the base per step for all
        List<ContentHash> trained = missing.isEmpty() ? List.of() : train(missing, dataDir, blobRoot, served, threads, log);
        List<Demo> demos = new ArrayList<>();
        for (Spec s : SPECS) {
            JsonNode existing = keys.get(s.tenant);
            String key = existing != null ? existing.asText() : newKey(s.tenant);
            keys.put(s.tenant, key);
            int fresh = missing.indexOf(s);
            ContentHash hash = fresh >= 0 ? trained.get(fresh) : ContentHash.parse(adapters.get(s.tenant).asText());
            adapters.put(s.tenant, hash.hex());
            TenantId tenant = new TenantId(s.tenant);
            demos.add(new Demo(tenant, s.displayName, key, new AdapterRef(tenant, s.tenant, 1, hash), existing == null));
        }
        Files.createDirectories(dataDir);
        PrivateFiles.write(keysFile, json.writerWithDefaultPrettyPrinter().writeValueAsString(keys));
        Files.writeString(adaptersFile, json.writerWithDefaultPrettyPrinter().writeValueAsString(adapters));
        return demos;
    }

    /** Trains the personas on their shipped pairs (all of them: no validation split) in one job and stores each as a blob. */
    private static List<ContentHash> train(List<Spec> specs, Path dataDir, Path blobRoot, ServedModel served, int threads,
            PrintStream log) throws IOException, InterruptedException {
        ChatTemplate template = served.chatTemplate().orElseThrow(
                () -> new IOException("the demo model has no chat template to train the personas with"));
        List<Trainer.Job> jobs = new ArrayList<>();
        List<String> texts = new ArrayList<>();
        TrainingOptions first = null;
        for (Spec s : specs) {
            String jsonl;
            try (InputStream in = DemoTenants.class.getResourceAsStream("/demo/" + s.tenant + ".jsonl")) {
                if (in == null) {
                    throw new IOException("demo/" + s.tenant + ".jsonl is missing from the classpath");
                }
                jsonl = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            }
            Dataset.Parsed parsed = Dataset.parse(jsonl);
            Dataset.Encoded encoded = Dataset.encode(parsed.examples(), new ExampleEncoder(template, served.tokenizer()),
                    served.model().config().maxPositionEmbeddings());
            if (!parsed.problems().isEmpty() || !encoded.problems().isEmpty()) {
                throw new IOException("demo/" + s.tenant + ".jsonl: " + parsed.problems() + encoded.problems());
            }
            TrainingOptions options = TrainingOptions.defaults(s.seed).withEpochs(EPOCHS).withLearningRate(LEARNING_RATE);
            options = new TrainingOptions(options.rank(), options.alpha(), options.dropout(), options.targets(), false, options.epochs(),
                    options.batchSize(), options.gradAccum(), options.learningRate(), options.weightDecay(), options.warmupRatio(),
                    options.maxGradNorm(), false, 0, false, s.seed, Math.max(1, threads));
            first = first == null ? options : first;
            log.printf("loraplex: training the %s persona on %d chat pairs (%d epochs, first start only)%n", s.tenant,
                    encoded.examples().size(), EPOCHS);
            jobs.add(new Trainer.Job(options, encoded.examples(), List.of(), ProgressListener.NONE));
            texts.add(jsonl);
        }
        long started = System.nanoTime();
        List<TrainedAdapter> trained = new Trainer(served.model(), first).trainAll(jobs);
        double seconds = (System.nanoTime() - started) / 1e9;
        List<ContentHash> hashes = new ArrayList<>();
        for (int i = 0; i < specs.size(); i++) {
            Spec s = specs.get(i);
            TrainedAdapter adapter = trained.get(i);
            Path staged = dataDir.resolve("tmp-demo-" + s.tenant);
            if (Files.exists(staged)) {
                deleteTree(staged);
            }
            ContentHash hash = adapter.write(staged, sha256(texts.get(i)));
            log.printf("loraplex: %s persona trained (loss %.3f -> %.3f)%n", s.tenant,
                    adapter.stats().epochs().getFirst().trainLoss(), adapter.stats().finalTrainLoss());
            Path target = new AdapterDirectory(blobRoot).version(new TenantId(s.tenant), hash);
            if (Files.isDirectory(target)) {
                deleteTree(staged);
            } else {
                Files.createDirectories(target.getParent());
                // only the two adapter files go to the blob store; training.json stays out of the content hash
                Files.deleteIfExists(staged.resolve(TrainedAdapter.TRAINING_FILE));
                Files.move(staged, target, StandardCopyOption.ATOMIC_MOVE);
            }
            hashes.add(hash);
        }
        log.printf("loraplex: %d persona%s trained in one job in %.1f s%n", specs.size(), specs.size() == 1 ? "" : "s", seconds);
        return hashes;
    }

    private static String sha256(String text) {
        try {
            return HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256")
                    .digest(text.getBytes(StandardCharsets.UTF_8)));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String newKey(String tenant) {
        byte[] random = new byte[18];
        new SecureRandom().nextBytes(random);
        return "lp-" + tenant + "-" + HexFormat.of().formatHex(random);
    }

    private static void deleteTree(Path dir) throws IOException {
        try (var paths = Files.walk(dir)) {
            for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
