package io.loraplex.persistence.tenant;

/**
 * A token bucket of {@code capacity}, refilled continuously by {@code refillAmount} every
 * {@code refillPeriodNanos}. The rate stays a (amount, period) pair so that round limits give
 * exact waits (2 per second: 500 ms for one; 600 per minute: 100 ms for one). Ephemeral: never
 * journaled, full again after a restart.
 */
record TokenBucket(double capacity, double refillAmount, long refillPeriodNanos, double level, long updatedNanos) {

    static TokenBucket full(double capacity, double refillAmount, long refillPeriodNanos, long now) {
        return new TokenBucket(capacity, refillAmount, refillPeriodNanos, capacity, now);
    }

    /** The bucket at {@code now}. A clock that went back refills nothing. */
    TokenBucket refill(long now) {
        if (now <= updatedNanos) {
            return this;
        }
        double refilled = Math.min(capacity, level + (now - updatedNanos) * refillAmount / refillPeriodNanos);
        return new TokenBucket(capacity, refillAmount, refillPeriodNanos, refilled, now);
    }

    /** Adds (or, negative, takes) {@code amount}, staying within [0, capacity]. */
    TokenBucket add(double amount) {
        double next = Math.clamp(level + amount, 0.0, capacity);
        return new TokenBucket(capacity, refillAmount, refillPeriodNanos, next, updatedNanos);
    }

    TokenBucket resized(double newCapacity, double newRefillAmount, long newRefillPeriodNanos) {
        return new TokenBucket(newCapacity, newRefillAmount, newRefillPeriodNanos, Math.min(level, newCapacity),
                updatedNanos);
    }

    /** Milliseconds an empty bucket takes to fill, rounded up. */
    long millisToFill() {
        return (long) Math.ceil(capacity * refillPeriodNanos / refillAmount / 1e6);
    }

    /** Milliseconds until the bucket holds {@code amount}, rounded up; 0 if it does now. */
    long millisUntil(double amount) {
        double missing = amount - level;
        if (missing <= 0) {
            return 0;
        }
        return (long) Math.ceil(missing * refillPeriodNanos / refillAmount / 1e6);
    }
}
