package io.loraplex.engine.backend;

import io.loraplex.engine.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** tools/reference/reference_logits.py for tests of other packages: one request's last-position logits. */
public final class NumpyReferenceAccess {

    private NumpyReferenceAccess() {
    }

    public static List<float[]> run(Path work, Path modelDir, Path adapterDir, int[] tokens) throws Exception {
        Path batch = Files.createTempFile(work, "batch", ".json");
        Files.writeString(batch, "[{\"adapter\":" + (adapterDir == null ? "null" : "\"" + adapterDir + "\"") + ",\"tokens\":"
                + TestModels.json(tokens) + "}]");
        return NumpyReferenceTest.runNumpy(modelDir, batch);
    }
}
