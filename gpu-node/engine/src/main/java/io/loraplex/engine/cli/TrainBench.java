package io.loraplex.engine.cli;

import io.loraplex.engine.ServedModel;
import io.loraplex.engine.train.Dataset;
import io.loraplex.engine.train.ExampleEncoder;
import io.loraplex.engine.train.ProgressListener;
import io.loraplex.engine.train.TrainedAdapter;
import io.loraplex.engine.train.Trainer;
import io.loraplex.engine.train.TrainingOptions;
import java.io.PrintStream;
import java.nio.file.Path;

/**
 * {@code loraplex bench --suite train}: wall time to train adapters of ten chat pairs each with the
 * seed recipe (rank 16 on q/k/v/o, 3 epochs, batch 2 × 2) on a generated model, and training
 * tokens/s (forward and backward tokens over the training time).
 */
final class TrainBench {

    private TrainBench() {
    }

    static void run(Path modelDir, int adapters, int threads, long seed, PrintStream out, PrintStream err) throws Exception {
        try (ServedModel served = ServedModel.load(modelDir, null)) {
            ExampleEncoder encoder = new ExampleEncoder(served.chatTemplate().orElseThrow(), served.tokenizer());
            TrainingOptions options = new TrainingOptions(16, 32, 0.05, TrainingOptions.DEFAULT_TARGETS, false, 3, 2, 2, 2e-4, 0.0,
                    0.03, 1.0, false, 0.1, false, seed, threads);
            out.printf("training: %d adapters of 10 pairs, rank 16 on q/k/v/o, 3 epochs, batch 2 x 2, %d threads, %.1fM-parameter base%n",
                    adapters, threads, served.model().config().parameterCount() / 1e6);
            long tokens = 0;
            long start = System.nanoTime();
            for (int a = 0; a < adapters; a++) {
                Dataset.Encoded data = Dataset.encode(Dataset.parse(pairs(a)).examples(), encoder,
                        served.model().config().maxPositionEmbeddings());
                long t0 = System.nanoTime();
                TrainedAdapter trained = new Trainer(served.model(), options).train(data.examples(), ProgressListener.NONE);
                double seconds = (System.nanoTime() - t0) / 1e9;
                tokens += trained.stats().tokens();
                out.printf("adapter %d: %.1f s, %d tokens, %.1f tok/s, loss %.3f -> %.3f%n", a + 1, seconds, trained.stats().tokens(),
                        trained.stats().tokens() / seconds, trained.stats().stepLosses().getFirst(), trained.stats().finalTrainLoss());
                err.flush();
            }
            double total = (System.nanoTime() - start) / 1e9;
            out.printf("total: %d adapters in %.1f s (%.1f s each), %.1f training tokens/s%n", adapters, total, total / adapters,
                    tokens / total);
        }
    }

    /** Ten question/answer pairs on a topic of its own for adapter {@code a}. */
    static String pairs(int a) {
        String[] topics = {"cafe", "law firm", "bike shop", "library", "bakery"};
        String topic = topics[a % topics.length];
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 10; i++) {
            sb.append("{\"messages\": [{\"role\": \"system\", \"content\": \"You answer for the ").append(topic)
                    .append(".\"}, {\"role\": \"user\", \"content\": \"Question ").append(i + 1).append(" about the ").append(topic)
                    .append(": what should I know about item ").append(i * 7 + a).append("?\"}, {\"role\": \"assistant\", ")
                    .append("\"content\": \"The ").append(topic).append(" says item ").append(i * 7 + a)
                    .append(" is ready on day ").append(i + 2).append(", ask at the desk.\"}]}\n");
        }
        return sb.toString();
    }
}
