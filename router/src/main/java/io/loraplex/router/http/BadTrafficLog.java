package io.loraplex.router.http;

import java.time.Duration;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.pekko.event.LoggingAdapter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The log of bad connections at a bounded rate: at most one WARN line per {@link Kind} per interval,
 * carrying the count of the ones not written since. A client opening thousands of bad connections
 * costs a few lines, not one per connection.
 */
final class BadTrafficLog {

    private static final Logger log = LoggerFactory.getLogger(BadTrafficLog.class);

    /** What went wrong with a connection; each kind has its own budget of lines. */
    enum Kind {
        /** Pekko HTTP refused a request (bad request line, header, size): its own warning, rate-limited. */
        MALFORMED_REQUEST("request refused by the HTTP layer"),
        /** The connection limit was reached: an idle connection was closed for the new one, or the new one got 503. */
        CONNECTION_LIMIT("connection limit reached"),
        /** A connection sent no complete request within first-request-timeout. */
        FIRST_REQUEST_TIMEOUT("no request within first-request-timeout"),
        /** A request's headers were not complete within header-timeout of its first byte. */
        HEADER_TIMEOUT("headers not complete within header-timeout"),
        /** A request in flight had no bytes either way for idle-timeout. */
        IDLE_TIMEOUT("request idle beyond idle-timeout");

        final String label;

        Kind(String label) {
            this.label = label;
        }
    }

    /** One kind's budget: when the next line may be written, and how many were held back meanwhile. */
    private static final class Budget {
        final AtomicLong nextLineNanos = new AtomicLong(Long.MIN_VALUE);
        final AtomicLong suppressed = new AtomicLong();
        final AtomicLong written = new AtomicLong();
    }

    private final long intervalNanos;
    private final Map<Kind, Budget> budgets = new EnumMap<>(Kind.class);

    BadTrafficLog(Duration interval) {
        this.intervalNanos = interval.toNanos();
        for (Kind kind : Kind.values()) {
            budgets.put(kind, new Budget());
        }
    }

    /** Writes one line for {@code kind} unless one was written within the interval; then only counts it. */
    void report(Kind kind, String detail) {
        Budget budget = budgets.get(kind);
        long now = System.nanoTime();
        long next = budget.nextLineNanos.get();
        if ((next == Long.MIN_VALUE || now - next >= 0) && budget.nextLineNanos.compareAndSet(next, now + intervalNanos)) {
            long held = budget.suppressed.getAndSet(0);
            budget.written.incrementAndGet();
            log.warn("bad connection, {}: {}{}", kind.label, detail,
                    held == 0 ? "" : " (and " + held + " more since the last line of this kind)");
        } else {
            budget.suppressed.incrementAndGet();
        }
    }

    /** Lines written for {@code kind} (tests check the bound). */
    long linesWritten(Kind kind) {
        return budgets.get(kind).written.get();
    }

    /** Occurrences of {@code kind}: written or held back since the last line. */
    long seen(Kind kind) {
        Budget b = budgets.get(kind);
        return b.written.get() + b.suppressed.get();
    }

    /**
     * The log Pekko HTTP's server layer writes to: its warnings are about a client's bad request (one per
     * connection under a flood), so they go through {@link Kind#MALFORMED_REQUEST}'s budget; errors (a
     * handler failing) stay as they are.
     */
    LoggingAdapter pekkoAdapter() {
        return new LoggingAdapter() {
            private final Logger pekko = LoggerFactory.getLogger("org.apache.pekko.http.server");

            @Override
            public boolean isErrorEnabled() {
                return pekko.isErrorEnabled();
            }

            @Override
            public boolean isWarningEnabled() {
                return log.isWarnEnabled();
            }

            @Override
            public boolean isInfoEnabled() {
                return pekko.isInfoEnabled();
            }

            @Override
            public boolean isDebugEnabled() {
                return pekko.isDebugEnabled();
            }

            @Override
            public void notifyError(String message) {
                pekko.error(message);
            }

            @Override
            public void notifyError(Throwable cause, String message) {
                pekko.error(message, cause);
            }

            @Override
            public void notifyWarning(String message) {
                report(Kind.MALFORMED_REQUEST, message);
            }

            @Override
            public void notifyInfo(String message) {
                pekko.info(message);
            }

            @Override
            public void notifyDebug(String message) {
                pekko.debug(message);
            }
        };
    }
}
