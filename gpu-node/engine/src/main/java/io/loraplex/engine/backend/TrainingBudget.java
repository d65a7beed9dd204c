package io.loraplex.engine.backend;

/**
 * Training's balance of compute time under a {@link TrainingShare}, in nanoseconds of a clock the
 * caller reads: earned at {@code share} per nanosecond of wall time up to the reserve, spent by
 * every chunk a serving step waited for. Pure bookkeeping (no clock, no locks), so a test can drive
 * it through simulated time; {@link ComputeGate} holds one under its lock.
 */
final class TrainingBudget {

    private final TrainingShare share;
    private double balance; // ns; starts full, so a job's first chunks are not held back
    private long last;      // ns; when balance was last brought up to date

    TrainingBudget(TrainingShare share, long now) {
        this.share = share;
        this.balance = share.reserveNanos();
        this.last = now;
    }

    TrainingShare share() {
        return share;
    }

    /** Charges the chunk that ran from {@code start} to {@code end} (now) when a serving step waited for it. */
    void charge(long start, long end, boolean servingWaited) {
        // what the chunk earned counts in full before the reserve caps the balance: with a share of 1 a chunk pays for itself
        if (end > last) {
            balance += share.share() * (end - last);
            last = end;
        }
        if (servingWaited) {
            balance -= Math.max(0, end - start);
        }
        balance = Math.min(share.reserveNanos(), balance);
    }

    /** How long training must leave the gate before its next chunk: 0 when it may start now. */
    long waitNanos(long now) {
        earn(now);
        return balance >= 0 ? 0 : (long) Math.ceil(-balance / share.share());
    }

    /** The balance now (ns; negative while training owes serving time). */
    double balance(long now) {
        earn(now);
        return balance;
    }

    private void earn(long now) {
        if (now > last) {
            balance = Math.min(share.reserveNanos(), balance + share.share() * (now - last));
            last = now;
        }
    }
}
