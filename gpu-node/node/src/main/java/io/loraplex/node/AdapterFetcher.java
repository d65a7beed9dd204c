package io.loraplex.node;

import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.blob.BlobProtocol;
import io.loraplex.engine.lora.AdapterException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.stream.IOResult;
import org.apache.pekko.stream.SourceRef;
import org.apache.pekko.stream.javadsl.FileIO;
import org.apache.pekko.util.ByteString;

/**
 * Brings an adapter version's files to this node when its {@link AdapterStore} lacks them: streams
 * both files (chunked, never whole in memory) from a blob store registered under
 * {@link BlobProtocol#SOURCE_KEY} into a temporary directory under the adapter root, checks that
 * what arrived hashes to the version's content hash, fsyncs and renames it atomically into
 * {@code <root>/<tenant>/<hash>/}. A store that fails (no copy, a corrupt copy, a cut stream) is
 * followed by the next; concurrent fetches of one version share one transfer; the whole fetch has
 * one time limit. Blocking: callers run it off the actor (the engine's adapter-load threads, a
 * virtual thread).
 */
public final class AdapterFetcher {

    /**
     * How long after this node started a fetch that knows no store left to try waits for more to
     * appear in the listing; later the listing has converged and a fetch that found nothing fails at once.
     */
    private static final Duration LISTING_GRACE = Duration.ofSeconds(10);

    private final ActorSystem<?> system;
    private final AdapterStore store;
    private final Duration timeout;
    private final long startedNanos = System.nanoTime();
    private final ConcurrentHashMap<Path, CompletableFuture<Path>> inFlight = new ConcurrentHashMap<>();
    private volatile Set<ActorRef<BlobProtocol.Command>> sources = Set.of();

    public AdapterFetcher(ActorSystem<?> system, AdapterStore store, Duration timeout) {
        this.system = system;
        this.store = store;
        this.timeout = timeout;
    }

    /** Keeps {@link #hasSources() the stores} current from the receptionist; spawn one per fetcher. */
    public Behavior<Receptionist.Listing> sourceWatcher() {
        return Behaviors.setup(ctx -> {
            ctx.getSystem().receptionist().tell(Receptionist.subscribe(BlobProtocol.SOURCE_KEY, ctx.getSelf()));
            return Behaviors.receiveMessage(listing -> {
                useSources(listing.getServiceInstances(BlobProtocol.SOURCE_KEY));
                return Behaviors.same();
            });
        });
    }

    /** The stores to fetch from (the watcher's listing; tests set them directly). */
    void useSources(Set<ActorRef<BlobProtocol.Command>> stores) {
        sources = Set.copyOf(stores);
    }

    /** Whether any blob store is known to fetch from. */
    public boolean hasSources() {
        return !sources.isEmpty();
    }

    /**
     * The directory holding the version's two files, fetched first when this node lacks them.
     *
     * @throws AdapterException {@code NOT_FOUND} when no store could provide an intact copy in time,
     *                          with each store's reason
     */
    public Path ensure(AdapterRef ref) throws AdapterException {
        Optional<Path> local = store.locate(ref);
        if (local.isPresent()) {
            return local.get();
        }
        Path target = store.directory(ref);
        CompletableFuture<Path> mine = new CompletableFuture<>();
        CompletableFuture<Path> shared = inFlight.putIfAbsent(target, mine);
        if (shared != null) {
            return await(ref, shared);
        }
        try {
            mine.complete(fetch(ref));
        } catch (AdapterException | RuntimeException e) {
            mine.completeExceptionally(e);
        } finally {
            inFlight.remove(target, mine);
        }
        return await(ref, mine);
    }

    private Path await(AdapterRef ref, CompletableFuture<Path> fetch) throws AdapterException {
        try {
            return fetch.get(timeout.toMillis() + 1_000, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof AdapterException a) {
                throw a;
            }
            throw new AdapterException(AdapterException.Reason.NOT_FOUND, describe(ref) + " could not be fetched: " + e.getCause(),
                    e.getCause());
        } catch (TimeoutException e) {
            throw new AdapterException(AdapterException.Reason.NOT_FOUND, describe(ref) + " was not fetched within " + timeout);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AdapterException(AdapterException.Reason.NOT_FOUND, describe(ref) + ": the fetch was interrupted");
        }
    }

    /**
     * Tries every other node's store in turn. A node that joined a moment ago may not list them all
     * yet (the receptionist's registry spreads by gossip): while none is left to try, it waits for
     * the listing to grow, until {@link #LISTING_GRACE} after the node started or the fetch timeout.
     */
    private Path fetch(AdapterRef ref) throws AdapterException {
        long deadline = System.nanoTime() + timeout.toNanos();
        Set<ActorRef<BlobProtocol.Command>> tried = new java.util.HashSet<>();
        List<String> failures = new ArrayList<>();
        while (true) {
            List<ActorRef<BlobProtocol.Command>> candidates = sources.stream().filter(s -> !tried.contains(s)).toList();
            if (candidates.isEmpty()) {
                long now = System.nanoTime();
                if (now - startedNanos > LISTING_GRACE.toNanos() || now > deadline) {
                    break;
                }
                try {
                    Thread.sleep(250);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    failures.add("interrupted");
                    break;
                }
                continue;
            }
            for (ActorRef<BlobProtocol.Command> source : candidates) {
                tried.add(source);
                Duration left = Duration.ofNanos(deadline - System.nanoTime());
                if (left.isNegative() || left.isZero()) {
                    failures.add("the fetch timeout of " + timeout + " passed");
                    break;
                }
                try {
                    return fetchFrom(source, ref, left);
                } catch (IOException | ExecutionException | TimeoutException | RuntimeException e) {
                    failures.add(source.path().address() + ": " + reason(e));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    failures.add("interrupted");
                    break;
                }
            }
        }
        throw new AdapterException(AdapterException.Reason.NOT_FOUND, describe(ref) + " is not on this node and could not be fetched: "
                + (failures.isEmpty() ? "no other node's blob store is known to fetch it from" : String.join("; ", failures)));
    }

    /**
     * One store's copy, streamed into a temporary directory, checked and renamed into place. A store
     * gets a third of the timeout to answer, so one that never does leaves time for the others.
     */
    private Path fetchFrom(ActorRef<BlobProtocol.Command> source, AdapterRef ref, Duration left)
            throws IOException, ExecutionException, TimeoutException, InterruptedException {
        long deadline = System.nanoTime() + left.toNanos();
        Duration answer = left.compareTo(timeout.dividedBy(3)) < 0 ? left : timeout.dividedBy(3);
        BlobProtocol.BlobRead read = AskPattern.<BlobProtocol.Command, BlobProtocol.BlobRead>ask(source,
                        replyTo -> new BlobProtocol.ReadBlob(ref.tenant(), ref.contentHash(), replyTo), answer, system.scheduler())
                .toCompletableFuture().get(answer.toMillis() + 1_000, TimeUnit.MILLISECONDS);
        if (!read.ok()) {
            throw new IOException(read.error());
        }
        Path temp = store.newTemporaryDirectory("fetch");
        try {
            receive(read.config(), read.configBytes(), temp.resolve(ContentHash.CONFIG_FILE), deadline);
            receive(read.weights(), read.weightsBytes(), temp.resolve(ContentHash.WEIGHTS_FILE), deadline);
            ContentHash arrived = ContentHash.ofDirectory(temp);
            if (!arrived.equals(ref.contentHash())) {
                throw new IOException("the files it sent hash to " + arrived + ", not to the expected " + ref.contentHash()
                        + "; refused");
            }
            fsync(temp.resolve(ContentHash.CONFIG_FILE), false);
            fsync(temp.resolve(ContentHash.WEIGHTS_FILE), false);
            fsync(temp, true);
            return commit(ref, temp);
        } finally {
            AdapterStore.deleteRecursively(temp);
        }
    }

    /** Streams one file to {@code file} and checks its size; the stream is cut at the deadline. */
    private void receive(SourceRef<ByteString> ref, long expectedBytes, Path file, long deadline)
            throws IOException, ExecutionException, TimeoutException, InterruptedException {
        Duration left = Duration.ofNanos(Math.max(1, deadline - System.nanoTime()));
        IOResult written = ref.getSource()
                .completionTimeout(left)
                .runWith(FileIO.toPath(file), system)
                .toCompletableFuture().get(left.toMillis() + 1_000, TimeUnit.MILLISECONDS);
        if (written.count() != expectedBytes) {
            throw new IOException(file.getFileName() + " arrived with " + written.count() + " bytes, not the " + expectedBytes
                    + " announced");
        }
    }

    /** Renames the checked directory into place; a copy that got there first (a concurrent fetch, an upload) is kept. */
    private Path commit(AdapterRef ref, Path temp) throws IOException {
        Path target = store.directory(ref);
        Path tenantDir = target.getParent();
        Files.createDirectories(tenantDir);
        try {
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (FileSystemException e) {
            if (store.locate(ref).isEmpty()) {
                throw e;
            }
            return target;
        }
        fsync(tenantDir, true);
        return target;
    }

    private static String describe(AdapterRef ref) {
        return "adapter " + ref.name() + " (version " + ref.version() + ", " + ref.contentHash() + ")";
    }

    private static String reason(Throwable t) {
        while ((t instanceof ExecutionException || t instanceof java.util.concurrent.CompletionException) && t.getCause() != null) {
            t = t.getCause();
        }
        if (t instanceof TimeoutException) {
            return "no answer in time (" + t.getMessage() + ")";
        }
        return t.getMessage() != null ? t.getMessage() : t.toString();
    }

    /** Forces a file's content, or a directory's entries, to disk. */
    private static void fsync(Path path, boolean directory) throws IOException {
        try (FileChannel channel = FileChannel.open(path, directory ? StandardOpenOption.READ : StandardOpenOption.WRITE)) {
            channel.force(true);
        }
    }
}
