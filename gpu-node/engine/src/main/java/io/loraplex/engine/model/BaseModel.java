package io.loraplex.engine.model;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A Hugging Face model directory, loaded: its config, its memory-mapped weights and (computed on
 * first use, since it reads every byte) its identity.
 */
public final class BaseModel implements AutoCloseable {

    private final Path dir;
    private final ModelConfig config;
    private final WeightFiles files;
    private final ModelWeights weights;
    private volatile ModelIdentity identity;

    private BaseModel(Path dir, ModelConfig config, WeightFiles files, ModelWeights weights) {
        this.dir = dir;
        this.config = config;
        this.files = files;
        this.weights = weights;
    }

    public static BaseModel load(Path dir) throws IOException {
        return load(dir, null);
    }

    /** Loads {@code dir} with its projections in {@code format} (null: the checkpoint's own dtype). */
    public static BaseModel load(Path dir, WeightFormat format) throws IOException {
        ModelConfig config = ModelConfig.load(dir);
        WeightFiles files = WeightFiles.open(dir);
        try {
            return new BaseModel(dir, config, files, new ModelWeights(config, files, format));
        } catch (IOException | RuntimeException e) {
            files.close();
            throw new IOException(dir + ": " + e.getMessage(), e);
        }
    }

    public Path dir() {
        return dir;
    }

    public ModelConfig config() {
        return config;
    }

    public ModelWeights weights() {
        return weights;
    }

    /** The identity, hashing the files on first call. */
    public ModelIdentity identity() throws IOException {
        ModelIdentity id = identity;
        if (id == null) {
            synchronized (this) {
                if (identity == null) {
                    identity = ModelIdentity.compute(dir, files.files());
                }
                id = identity;
            }
        }
        return id;
    }

    @Override
    public void close() {
        files.close();
    }
}
