package io.loraplex.engine;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.locks.LockSupport;

/**
 * Threads started by a test, and whether they stay idle: the CPU time they use over a quiet
 * window (from {@link ThreadMXBean#getThreadCpuTime}) and the states they are seen in.
 */
public record IdleThreads(List<Thread> threads) {

    /** The quiet window over which CPU use is measured. */
    public static final long WINDOW_NANOS = 2_000_000_000L;
    /**
     * CPU time allowed over the window: 5% of one core. A thread parked without a timeout uses
     * none (measured: 0.000 ms over the window); the old pool's 1 ms timed park used ~30 ms per
     * worker (1.5% of a core) and the old step loop's 20 ms poll ~23 ms, and a spinning thread uses
     * the whole window. The bound is far above zero so that a loaded CI machine's accounting noise
     * never fails it; the WAITING check is the one that catches a timed wake-up loop.
     */
    public static final long CPU_BOUND_NANOS = WINDOW_NANOS / 20;

    /** Ids of the threads alive now. */
    public static Set<Long> ids() {
        Set<Long> ids = new HashSet<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            ids.add(t.threadId());
        }
        return ids;
    }

    /** The live threads not in {@code before} whose names start with one of {@code prefixes}. */
    public static IdleThreads startedSince(Set<Long> before, String... prefixes) {
        List<Thread> found = Thread.getAllStackTraces().keySet().stream()
                .filter(t -> !before.contains(t.threadId()))
                .filter(t -> {
                    for (String p : prefixes) {
                        if (t.getName().startsWith(p)) {
                            return true;
                        }
                    }
                    return false;
                })
                .toList();
        return new IdleThreads(found);
    }

    /**
     * Lets the threads settle (past any spin), then asserts that over {@link #WINDOW_NANOS} they
     * used under {@link #CPU_BOUND_NANOS} of CPU together, and were never seen running. With
     * {@code timedWaitsAllowed} false they must also be parked without a timeout at every look
     * (WAITING, not TIMED_WAITING): a timed park is a wake-up loop, however cheap.
     */
    public void assertIdle(boolean timedWaitsAllowed) {
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        assertTrue(mx.isThreadCpuTimeSupported(), "this JVM cannot measure thread CPU time");
        LockSupport.parkNanos(100_000_000L); // well past every spin
        long start = cpu(mx);
        long end = System.nanoTime() + WINDOW_NANOS;
        String busy = null;
        while (System.nanoTime() < end) {
            for (Thread t : threads) {
                Thread.State state = t.getState();
                boolean ok = state == Thread.State.WAITING || (timedWaitsAllowed && state == Thread.State.TIMED_WAITING);
                if (!ok && busy == null) {
                    busy = t.getName() + " was " + state + " while idle";
                }
            }
            LockSupport.parkNanos(50_000_000L);
        }
        long used = cpu(mx) - start;
        // the figure docs/benchmarks.md quotes (in the surefire report's output)
        System.out.printf("idle threads %s used %.3f ms of CPU over %d ms%n", names(), used / 1e6, WINDOW_NANOS / 1_000_000);
        if (busy != null) {
            fail(busy);
        }
        assertTrue(used < CPU_BOUND_NANOS, "idle threads " + names() + " used " + used / 1_000_000.0
                + " ms of CPU over " + WINDOW_NANOS / 1_000_000 + " ms (bound " + CPU_BOUND_NANOS / 1_000_000 + " ms)");
    }

    /** CPU nanoseconds the threads have used so far. */
    public long cpu(ThreadMXBean mx) {
        long sum = 0;
        for (Thread t : threads) {
            long ns = mx.getThreadCpuTime(t.threadId());
            if (ns > 0) {
                sum += ns;
            }
        }
        return sum;
    }

    private List<String> names() {
        return threads.stream().map(Thread::getName).toList();
    }
}
