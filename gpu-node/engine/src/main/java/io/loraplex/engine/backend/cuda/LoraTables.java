package io.loraplex.engine.backend.cuda;

import io.loraplex.engine.backend.ForwardBatch;
import io.loraplex.engine.lora.PagedAdapter;
import io.loraplex.engine.lora.TargetModule;
import java.util.Arrays;

/**
 * The multi-LoRA index tables of one step, as {@code lora_shrink.cu} and {@code lora_expand.cu} take
 * them: the token-to-slot map in both forms (gathered for decode, segmented for prefill) and one
 * {@link ModuleTable} per (layer, module).
 *
 * @param slots     (T) each token's slot, {@link #NO_SLOT} for the base model (gathered form)
 * @param segStarts (G + 1) segment g is tokens {@code [segStarts[g], segStarts[g + 1])}; the segments
 *                  cover every token, in order
 * @param segSlots  (G) the slot of segment g's tokens, {@link #NO_SLOT} for a run without adapter
 * @param modules   (L · TargetModule.COUNT) by {@code layer · COUNT + module.ordinal()}
 */
public record LoraTables(int[] slots, int[] segStarts, int[] segSlots, ModuleTable[] modules) {

    /** The kernels' "no adapter": they skip a token or segment whose slot is negative. */
    public static final int NO_SLOT = -1;

    /**
     * One adapted projection's tables over the step's slots.
     *
     * @param ranks    (S) rank of slot s here, 0 when its adapter does not adapt this module
     * @param rowStart (S) index in {@code aRows} and {@code bRows} of slot s's first row
     * @param aRows    (sum R) arena element offset of row r of A_s ({@code in} elements)
     * @param bRows    (sum R) arena element offset of column r of B_s, stored as a row ({@code out} elements)
     * @param scales   (S) alpha / r of slot s (0 where the rank is 0)
     * @param maxRank  the largest rank: the shrink output's columns, the launch grid's x extent
     */
    public record ModuleTable(int[] ranks, int[] rowStart, long[] aRows, long[] bRows, float[] scales, int maxRank) {

        /** True when no slot adapts this module: the step skips its shrink and expand launches. */
        public boolean empty() {
            return maxRank == 0;
        }
    }

    public ModuleTable module(int layer, TargetModule module) {
        return modules[layer * TargetModule.COUNT + module.ordinal()];
    }

    public int numSegments() {
        return segSlots.length;
    }

    /** True when no token of the step has an adapter. */
    public boolean baseOnly() {
        for (int s : segSlots) {
            if (s != NO_SLOT) {
                return false;
            }
        }
        return true;
    }

    /** The tables of {@code batch} for a model of {@code numLayers} layers. */
    public static LoraTables of(ForwardBatch batch, int numLayers) {
        int[] adapter = batch.adapter();
        int t = adapter.length;
        // slot s is the batch's adapter s, so the gathered map is the batch's own, with the kernels' sentinel
        int[] slots = new int[t];
        for (int i = 0; i < t; i++) {
            slots[i] = adapter[i] == ForwardBatch.NO_ADAPTER ? NO_SLOT : adapter[i];
        }
        // maximal runs of one slot; runs without adapter stay as segments so seg_starts needs no gaps
        int[] starts = new int[t + 1];
        int[] segSlots = new int[t];
        int g = 0;
        for (int start = 0; start < t; ) {
            int end = start + 1;
            while (end < t && slots[end] == slots[start]) {
                end++;
            }
            starts[g] = start;
            segSlots[g] = slots[start];
            g++;
            start = end;
        }
        starts[g] = t;
        PagedAdapter[] adapters = batch.adapters();
        ModuleTable[] modules = new ModuleTable[numLayers * TargetModule.COUNT];
        for (int l = 0; l < numLayers; l++) {
            for (TargetModule m : TargetModule.values()) {
                modules[l * TargetModule.COUNT + m.ordinal()] = moduleTable(adapters, l, m);
            }
        }
        return new LoraTables(slots, Arrays.copyOf(starts, g + 1), Arrays.copyOf(segSlots, g), modules);
    }

    private static ModuleTable moduleTable(PagedAdapter[] adapters, int layer, TargetModule module) {
        int s = adapters.length;
        int[] ranks = new int[s];
        int[] rowStart = new int[s];
        float[] scales = new float[s];
        int total = 0;
        int maxRank = 0;
        for (int i = 0; i < s; i++) {
            PagedAdapter.Module m = adapters[i].module(layer, module);
            rowStart[i] = total;
            if (m != null) {
                ranks[i] = m.rank();
                scales[i] = m.scale();
                total += m.rank();
                maxRank = Math.max(maxRank, m.rank());
            }
        }
        long[] aRows = new long[total];
        long[] bRows = new long[total];
        for (int i = 0; i < s; i++) {
            PagedAdapter.Module m = adapters[i].module(layer, module);
            for (int r = 0; r < ranks[i]; r++) {
                aRows[rowStart[i] + r] = m.aRows()[r];
                bRows[rowStart[i] + r] = m.bRows()[r];
            }
        }
        return new ModuleTable(ranks, rowStart, aRows, bRows, scales, maxRank);
    }
}
