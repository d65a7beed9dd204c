package io.loraplex.router;

import com.typesafe.config.Config;
import java.time.Duration;

/**
 * Settings of the fine-tuning API, from {@code loraplex.router.fine-tuning} (see this module's
 * {@code reference.conf}).
 *
 * @param maxFileBytes    the largest training file an upload may carry
 * @param askTimeout      how long the file store and the FineTune entity may take to answer
 * @param validateTimeout how long a GPU node may take to validate a training file
 */
public record FineTuningSettings(long maxFileBytes, Duration askTimeout, Duration validateTimeout) {

    public FineTuningSettings {
        if (maxFileBytes < 1) {
            throw new IllegalArgumentException("loraplex.router.fine-tuning.max-file-bytes must be positive, got " + maxFileBytes);
        }
        if (askTimeout.isNegative() || askTimeout.isZero() || validateTimeout.isNegative() || validateTimeout.isZero()) {
            throw new IllegalArgumentException("loraplex.router.fine-tuning timeouts must be positive, got " + askTimeout + " and "
                    + validateTimeout);
        }
    }

    public static FineTuningSettings create(Config config) {
        Config c = config.getConfig("loraplex.router.fine-tuning");
        return new FineTuningSettings(c.getBytes("max-file-bytes"), c.getDuration("ask-timeout"), c.getDuration("validate-timeout"));
    }
}
