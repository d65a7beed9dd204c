package io.loraplex.engine.backend;

import static io.loraplex.engine.backend.PanelMatrix.LANES;

import io.loraplex.engine.model.DType;
import java.lang.foreign.MemorySegment;

/**
 * The CPU backend's projections over {@link PanelMatrix} weights: a cache-blocked GEMM whose register
 * tile is chosen once at start for the machine's vector width (AVX-512: 4 panels × 6 tokens of float
 * weights, 2 × 6 of quantized ones; narrower vectors: 2 × 6 and 1 × 4, which fit 16 registers) and a
 * GEMV for a lone token (4 panels at once, one broadcast per input). Loop order: a group of panels
 * (a few hundred KB at most, it stays in L2) against every token tile, so the weights are read from
 * memory once per call whatever the token count. Every tile gives each element the bits of
 * {@link PanelMatrix#dot}.
 */
final class PanelKernels {

    /** AVX-512 class machines: 32 vector registers. */
    static final boolean WIDE = LANES >= 16;

    private PanelKernels() {
    }

    /** Results of one tile: at most 4 panels × 6 tokens of LANES floats. */
    static float[] tileBuffer() {
        return new float[PanelMatrix.GROUP * 6 * LANES];
    }

    /**
     * {@code y[t·yStride + yOff + o] = x[t·xStride …]·W[o]} for tokens {@code [0, nTokens)} and the
     * rows of panels {@code [pStart, pEnd)} (multiples of {@link PanelMatrix#GROUP}); rows past
     * {@code w.rows()} are not written.
     */
    static void matmul(float[] x, int xStride, int nTokens, PanelMatrix w, int pStart, int pEnd,
            float[] y, int yStride, int yOff, float[] tile) {
        matmul(x, xStride, nTokens, w, pStart, pEnd, y, yStride, yOff, tile, WIDE);
    }

    /** {@link #matmul} with the tile set named ({@code wide}: AVX-512's; else the 16-register one), for tests. */
    static void matmul(float[] x, int xStride, int nTokens, PanelMatrix w, int pStart, int pEnd,
            float[] y, int yStride, int yOff, float[] tile, boolean wide) {
        if (nTokens <= 0) {
            return;
        }
        boolean quant = w.dtype().quantized();
        int p = nTokens == 1 ? 4 : quant ? (wide ? 2 : 1) : (wide ? 4 : 2);
        int tt = nTokens == 1 ? 1 : quant ? (wide ? 6 : 4) : 6;
        MemorySegment data = w.data();
        long pb = w.panelBytes();
        int n = w.n();
        for (int g = pStart; g < pEnd; g += p) {
            long w0 = g * pb;
            for (int t = 0; t < nTokens; t += tt) {
                int nt = Math.min(tt, nTokens - t);
                // a short last tile repeats its last token; those results are dropped
                int x0 = t * xStride;
                int x1 = x0 + Math.min(1, nt - 1) * xStride;
                int x2 = x0 + Math.min(2, nt - 1) * xStride;
                int x3 = x0 + Math.min(3, nt - 1) * xStride;
                int x4 = x0 + Math.min(4, nt - 1) * xStride;
                int x5 = x0 + Math.min(5, nt - 1) * xStride;
                run(w.dtype(), p, tt, x, x0, x1, x2, x3, x4, x5, data, w0, pb, n, tile);
                scatter(tile, p, nt, g, w.rows(), y, t, yStride, yOff);
            }
        }
    }

    private static void run(DType dtype, int p, int tt, float[] x, int x0, int x1, int x2, int x3, int x4, int x5,
            MemorySegment w, long w0, long pb, int n, float[] out) {
        long w1 = w0 + pb;
        long w2 = w1 + pb;
        long w3 = w2 + pb;
        switch (dtype) {
            case F32 -> {
                if (tt == 1) {
                    PanelTiles.f324x1(x, x0, w, w0, w1, w2, w3, n, out);
                } else if (p == 4) {
                    PanelTiles.f324x6(x, x0, x1, x2, x3, x4, x5, w, w0, w1, w2, w3, n, out);
                } else {
                    PanelTiles.f322x6(x, x0, x1, x2, x3, x4, x5, w, w0, w1, n, out);
                }
            }
            case BF16 -> {
                if (tt == 1) {
                    PanelTiles.bf164x1(x, x0, w, w0, w1, w2, w3, n, out);
                } else if (p == 4) {
                    PanelTiles.bf164x6(x, x0, x1, x2, x3, x4, x5, w, w0, w1, w2, w3, n, out);
                } else {
                    PanelTiles.bf162x6(x, x0, x1, x2, x3, x4, x5, w, w0, w1, n, out);
                }
            }
            case F16 -> {
                if (tt == 1) {
                    PanelTiles.f164x1(x, x0, w, w0, w1, w2, w3, n, out);
                } else if (p == 4) {
                    PanelTiles.f164x6(x, x0, x1, x2, x3, x4, x5, w, w0, w1, w2, w3, n, out);
                } else {
                    PanelTiles.f162x6(x, x0, x1, x2, x3, x4, x5, w, w0, w1, n, out);
                }
            }
            case Q8_0 -> {
                if (tt == 1) {
                    PanelTiles.q84x1(x, x0, w, w0, w1, w2, w3, n, out);
                } else if (p == 2) {
                    PanelTiles.q82x6(x, x0, x1, x2, x3, x4, x5, w, w0, w1, n, out);
                } else {
                    PanelTiles.q81x4(x, x0, x1, x2, x3, w, w0, n, out);
                }
            }
            case Q4_0 -> {
                if (tt == 1) {
                    PanelTiles.q44x1(x, x0, w, w0, w1, w2, w3, n, out);
                } else if (p == 2) {
                    PanelTiles.q42x6(x, x0, x1, x2, x3, x4, x5, w, w0, w1, n, out);
                } else {
                    PanelTiles.q41x4(x, x0, x1, x2, x3, w, w0, n, out);
                }
            }
        }
    }

    /** Copies a tile's results ({@code tile[(t·p + i)·LANES + r]}) into y, leaving out padding rows and repeated tokens. */
    private static void scatter(float[] tile, int p, int nt, int g, int rows, float[] y, int t0, int yStride, int yOff) {
        for (int t = 0; t < nt; t++) {
            int yRow = (t0 + t) * yStride + yOff;
            for (int i = 0; i < p; i++) {
                int o = (g + i) * LANES;
                int count = Math.min(LANES, rows - o);
                if (count <= 0) {
                    break;
                }
                System.arraycopy(tile, (t * p + i) * LANES, y, yRow + o, count);
            }
        }
    }
}
