package io.loraplex.engine.backend;

import java.time.Duration;

/**
 * How much of the node's compute training may take while serving has work: a training chunk (the
 * work between two yield points) that made a serving step wait costs its whole length, and
 * training earns {@code share} of every nanosecond of wall time, holding at most {@code share ·
 * window} in reserve. A chunk may start only with a non-negative balance, so over any stretch of
 * contention training holds the gate for at most {@code share} of it, plus the reserve and one
 * chunk. Chunks that no serving step waited for cost nothing: with serving idle, training runs
 * flat out.
 *
 * @param share  training's share of wall time while serving waits, in (0, 1]; 1 turns the bound off
 * @param window the span the share is measured over: the reserve is {@code share · window}
 */
public record TrainingShare(double share, Duration window) {

    /** The reference.conf default: a quarter of the node, measured over a second. */
    public static final TrainingShare DEFAULT = new TrainingShare(0.25, Duration.ofSeconds(1));

    public TrainingShare {
        if (!(share > 0 && share <= 1)) {
            throw new IllegalArgumentException("training-share must be in (0, 1], got " + share);
        }
        if (window.isNegative() || window.isZero()) {
            throw new IllegalArgumentException("training-share-window must be positive, got " + window);
        }
    }

    /** The most credit training may hold: what it earns over one window. */
    long reserveNanos() {
        return (long) (share * window.toNanos());
    }
}
