package io.loraplex.engine.cli;

import io.loraplex.engine.backend.WorkerPool;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * What this machine can do at most, measured, for the bench's floors: the FMA peak (independent
 * register FMAs, no memory) and the read bandwidth (summing a buffer far larger than any cache, what
 * a decode step's weight stream is), both on the bench's threads.
 */
final class MachinePeaks {

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    private MachinePeaks() {
    }

    /** FLOP/s of {@code threads} threads each running twelve independent vector FMA chains; the best of 4. */
    static double fmaPeak(int threads) {
        double best = 0;
        long iters = 5_000_000;
        float warm = 0;
        for (int i = 0; i < 200; i++) {
            warm += fmaChains(2_000); // short calls first: compiled before the timed ones (interpreted, one would take seconds)
        }
        try (WorkerPool pool = new WorkerPool(threads)) {
            float[] sink = new float[threads];
            sink[0] = warm;
            for (int rep = 0; rep < 4; rep++) {
                long t0 = System.nanoTime();
                pool.run(threads, t -> sink[t] = fmaChains(iters));
                double seconds = (System.nanoTime() - t0) / 1e9;
                best = Math.max(best, 2.0 * 12 * F.length() * iters * threads / seconds);
            }
        }
        return best;
    }

    private static float fmaChains(long iters) {
        FloatVector b = FloatVector.broadcast(F, 1.0000001f);
        FloatVector a0 = FloatVector.broadcast(F, 0.1f), a1 = a0.add(1f), a2 = a0.add(2f), a3 = a0.add(3f), a4 = a0.add(4f),
                a5 = a0.add(5f), a6 = a0.add(6f), a7 = a0.add(7f), a8 = a0.add(8f), a9 = a0.add(9f), a10 = a0.add(10f), a11 = a0.add(11f);
        for (long i = 0; i < iters; i++) {
            a0 = a0.fma(b, b); a1 = a1.fma(b, b); a2 = a2.fma(b, b); a3 = a3.fma(b, b); a4 = a4.fma(b, b); a5 = a5.fma(b, b);
            a6 = a6.fma(b, b); a7 = a7.fma(b, b); a8 = a8.fma(b, b); a9 = a9.fma(b, b); a10 = a10.fma(b, b); a11 = a11.fma(b, b);
        }
        return a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7).add(a8).add(a9).add(a10).add(a11).lane(0);
    }

    /** Bytes per second {@code threads} threads read from a 1 GiB native buffer, summing it; the best of 5. */
    static double readBandwidth(int threads) {
        long bytes = 1L << 30;
        MemorySegment data = Arena.ofAuto().allocate(bytes, 64);
        data.fill((byte) 1);
        int chunks = threads * 8;
        long per = bytes / chunks;
        double best = 0;
        float warm = 0;
        for (int i = 0; i < 200; i++) {
            warm += sum(data, 0, 1 << 16);
        }
        try (WorkerPool pool = new WorkerPool(threads)) {
            float[] sink = new float[chunks];
            sink[0] = warm;
            for (int rep = 0; rep < 5; rep++) {
                long t0 = System.nanoTime();
                pool.run(chunks, c -> sink[c] = sum(data, c * per, per));
                double seconds = (System.nanoTime() - t0) / 1e9;
                best = Math.max(best, bytes / seconds);
            }
        }
        return best;
    }

    private static float sum(MemorySegment data, long from, long length) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long step = F.vectorByteSize();
        for (long o = from; o + 4 * step <= from + length; o += 4 * step) {
            a0 = a0.add(FloatVector.fromMemorySegment(F, data, o, ByteOrder.LITTLE_ENDIAN));
            a1 = a1.add(FloatVector.fromMemorySegment(F, data, o + step, ByteOrder.LITTLE_ENDIAN));
            a2 = a2.add(FloatVector.fromMemorySegment(F, data, o + 2 * step, ByteOrder.LITTLE_ENDIAN));
            a3 = a3.add(FloatVector.fromMemorySegment(F, data, o + 3 * step, ByteOrder.LITTLE_ENDIAN));
        }
        return a0.add(a1).add(a2).add(a3).reduceLanes(VectorOperators.ADD);
    }
}
