package io.loraplex.simulations.fleet;

import io.loraplex.cluster.ContentHash;
import io.loraplex.router.placement.PlacementPolicy;
import io.loraplex.router.placement.Rendezvous;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;

/**
 * One adapter version of the simulated fleet, with the index the simulator's placement view needs:
 * where it is pooled and warm (so a tier lookup costs O(1), not a scan of every node's list), and
 * its rendezvous order over its base's nodes, computed once (membership only shrinks here, and the
 * order among the survivors is the full order with the gone skipped).
 */
final class SimAdapter {

    /** How many of the rendezvous order's head are kept at first; the rest is computed when a request gets that far. */
    private static final int PREFIX = 8;

    final String tenant;
    final String model;
    final ContentHash hash;
    final long keyState;
    final long bytes;
    final int base;
    /** Nodes with a slot for it (transferring or resident): "hot" to placement. */
    final List<SimNode> pooledOn = new ArrayList<>(2);
    final List<SimNode> warmOn = new ArrayList<>(2);
    private int[] order;
    private boolean complete;

    SimAdapter(String tenant, String model, long bytes, int base) {
        this.tenant = tenant;
        this.model = model;
        this.hash = contentHash(tenant + "/" + model);
        this.keyState = Rendezvous.keyState(hash.hex());
        this.bytes = bytes;
        this.base = base;
    }

    /** Stands in for the hash of the adapter's files: the same for the same tenant and name, every run. */
    static ContentHash contentHash(String key) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8));
            return new ContentHash(HexFormat.of().formatHex(digest));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    /** The {@code i}-th node of {@code nodes} (its base's, every one ever) in rendezvous order, or -1 past the end. */
    int rendezvous(List<SimNode> nodes, int i) {
        if (order == null) {
            order = head(nodes, Math.min(PREFIX, nodes.size()));
            complete = order.length == nodes.size();
        }
        if (i >= order.length && !complete) {
            order = head(nodes, nodes.size());
            complete = true;
        }
        return i < order.length ? order[i] : -1;
    }

    /** The first {@code k} positions (into {@code nodes}) of the order {@link PlacementPolicy#rendezvousOrder} gives. */
    private int[] head(List<SimNode> nodes, int k) {
        long[] scores = new long[nodes.size()];
        for (int i = 0; i < scores.length; i++) {
            scores[i] = Rendezvous.score(keyState, nodes.get(i).id.value());
        }
        Integer[] idx = new Integer[nodes.size()];
        for (int i = 0; i < idx.length; i++) {
            idx[i] = i;
        }
        java.util.Comparator<Integer> better = (a, b) -> scores[a] != scores[b] ? Long.compare(scores[b], scores[a])
                : nodes.get(a).id.value().compareTo(nodes.get(b).id.value());
        if (k == nodes.size()) {
            Arrays.sort(idx, better);
            return Arrays.stream(idx).mapToInt(Integer::intValue).toArray();
        }
        int[] top = new int[k];
        int n = 0;
        for (int i = 0; i < idx.length; i++) { // insertion into a short sorted head
            if (n < k || better.compare(i, top[n - 1]) < 0) {
                int j = Math.min(n, k - 1);
                while (j > 0 && better.compare(i, top[j - 1]) < 0) {
                    top[j] = top[j - 1];
                    j--;
                }
                top[j] = i;
                n = Math.min(n + 1, k);
            }
        }
        return top;
    }
}
