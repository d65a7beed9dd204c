package io.loraplex.router.placement;

import java.nio.charset.StandardCharsets;

/**
 * Rendezvous (highest random weight) hashing: every node gets a score for a key, the highest wins.
 * When a node joins or leaves, only the keys it wins (or won) move; every router computes the same
 * order from the same membership, with no shared state.
 */
public final class Rendezvous {

    private Rendezvous() {
    }

    /** The score of {@code node} for {@code key}: a 64-bit mix of both (FNV-1a, then a finalizer). */
    public static long score(String key, String node) {
        return score(keyState(key), node);
    }

    /**
     * The hash state after {@code key} and the separator: scoring one key against many nodes (the
     * fleet simulator ranks 1,000 nodes) hashes the key once, with the same result as {@link #score(String, String)}.
     */
    public static long keyState(String key) {
        long h = 0xcbf29ce484222325L;
        for (byte b : key.getBytes(StandardCharsets.UTF_8)) {
            h = (h ^ (b & 0xff)) * 0x100000001b3L;
        }
        return (h ^ 0x1f) * 0x100000001b3L; // a separator: ("ab","c") and ("a","bc") differ
    }

    /** The score of {@code node} for the key whose {@link #keyState} is {@code keyState}. */
    public static long score(long keyState, String node) {
        long h = keyState;
        for (byte b : node.getBytes(StandardCharsets.UTF_8)) {
            h = (h ^ (b & 0xff)) * 0x100000001b3L;
        }
        // murmur3's fmix64: FNV alone leaves the high bits poorly mixed for similar node names
        h ^= h >>> 33;
        h *= 0xff51afd7ed558ccdL;
        h ^= h >>> 33;
        h *= 0xc4ceb9fe1a85ec53L;
        h ^= h >>> 33;
        return h;
    }
}
