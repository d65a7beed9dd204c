package io.loraplex.engine.backend;

import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.Tensor;
import io.loraplex.engine.model.WeightFormat;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.stream.IntStream;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * A projection weight {@code (rows, n)} repacked once at load for the CPU kernels: panels of
 * {@link #LANES} rows (one vector register: 16 on AVX-512, 8 on AVX2), each panel stored k-major, so
 * a kernel reads one vector of weights per input and broadcasts the input (the layout of a GEMM's
 * packed B panel). The panel count is padded to a multiple of {@link #GROUP} with zero rows.
 *
 * <p>Per panel, {@code n} inputs: f32, bf16 and f16 as {@code n × LANES} elements (input {@code k} of
 * row {@code r} at element {@code k·LANES + r}); Q8_0 as {@code n/32} blocks of {@code 32 × LANES}
 * quants ({@code j·LANES + r}) then {@code LANES} f32 scales; Q4_0 as {@code n/32} blocks of
 * {@code 16 × LANES} bytes (byte {@code j·LANES + r} holds input {@code j} of row {@code r} in its low
 * nibble and {@code j + 16} in its high one, offset by 8) then {@code LANES} scales. Quants and
 * scales are those of {@link WeightFormat}'s row-major blocks, only moved.
 *
 * <p>The order of every output element is fixed by {@link #dot}, whatever kernel or tile computes
 * it: a request's logits do not depend on its batch-mates, and every CPU whatever its vector width
 * gets the same bits.
 */
public final class PanelMatrix {

    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    /** Rows per panel: one vector of floats. */
    public static final int LANES = F.length();
    /** Panels are counted in groups of this many (padded), the widest tile. */
    static final int GROUP = 4;
    static final int BLOCK = DType.BLOCK;
    static final int Q8_QUANTS = BLOCK * LANES;
    static final int Q8_BLOCK = Q8_QUANTS + LANES * Float.BYTES;
    static final int Q4_QUANTS = BLOCK / 2 * LANES;
    static final int Q4_BLOCK = Q4_QUANTS + LANES * Float.BYTES;
    private static final ValueLayout.OfFloat F32 = Tensor.F32;
    private static final ValueLayout.OfShort U16 = Tensor.U16;

    private final String name;
    private final DType dtype;
    private final int rows;
    private final int n;
    private final int panels;
    private final long panelBytes;
    private final MemorySegment data;

    private PanelMatrix(String name, DType dtype, int rows, int n, MemorySegment data) {
        this.name = name;
        this.dtype = dtype;
        this.rows = rows;
        this.n = n;
        this.panels = (rows + LANES * GROUP - 1) / (LANES * GROUP) * GROUP;
        this.panelBytes = panelBytes(dtype, n);
        this.data = data;
    }

    /** Bytes of one panel of {@code n} inputs. */
    static long panelBytes(DType dtype, int n) {
        return switch (dtype) {
            case F32 -> (long) n * LANES * 4;
            case BF16, F16 -> (long) n * LANES * 2;
            case Q8_0 -> (long) n / BLOCK * Q8_BLOCK;
            case Q4_0 -> (long) n / BLOCK * Q4_BLOCK;
        };
    }

    /**
     * {@code t} (2-D, row-major, any dtype) packed as {@code target}: the same values when the dtypes
     * match (quantized rows moved, not requantized), else converted as {@link WeightFormat#convert}
     * converts. Packed in parallel panels; the packed copy lives as long as this object.
     */
    public static PanelMatrix pack(Tensor t, DType target) {
        WeightFormat.checkConvertible(t, target);
        int rows = Math.toIntExact(t.dim(0));
        int n = Math.toIntExact(t.dim(1));
        PanelMatrix shape = new PanelMatrix(t.name(), target, rows, n, null);
        // 64 spare bytes: a narrow machine's 4-lane kernels read quants 8 bytes at a time
        MemorySegment data = Arena.ofAuto().allocate(shape.panels * shape.panelBytes + 64, 64);
        PanelMatrix m = new PanelMatrix(t.name(), target, rows, n, data);
        IntStream.range(0, (rows + LANES - 1) / LANES).parallel().forEach(p -> m.packPanel(t, p));
        return m;
    }

    private void packPanel(Tensor t, int p) {
        long base = p * panelBytes;
        float[] row = new float[n];
        MemorySegment quantRow = dtype.quantized() ? MemorySegment.ofArray(new byte[(int) dtype.rowBytes(n)]) : null;
        for (int r = 0; r < LANES && p * LANES + r < rows; r++) {
            int o = p * LANES + r;
            MemorySegment q = null;
            if (dtype.quantized()) {
                if (t.dtype() == dtype) {
                    q = t.data().asSlice(o * dtype.rowBytes(n), dtype.rowBytes(n));
                } else {
                    t.copyTo((long) o * n, row, 0, n);
                    if (dtype == DType.Q8_0) {
                        WeightFormat.quantizeQ8(row, quantRow, 0);
                    } else {
                        WeightFormat.quantizeQ4(row, quantRow, 0);
                    }
                    q = quantRow;
                }
            }
            switch (dtype) {
                case F32 -> {
                    t.copyTo((long) o * n, row, 0, n);
                    for (int k = 0; k < n; k++) {
                        data.set(F32, base + ((long) k * LANES + r) * 4, row[k]);
                    }
                }
                case BF16, F16 -> {
                    boolean raw = t.dtype() == dtype;
                    if (!raw) {
                        t.copyTo((long) o * n, row, 0, n);
                    }
                    for (int k = 0; k < n; k++) {
                        short bits = raw ? t.data().getAtIndex(U16, (long) o * n + k)
                                : dtype == DType.BF16 ? DType.floatToBf16(row[k]) : Float.floatToFloat16(row[k]);
                        data.set(U16, base + ((long) k * LANES + r) * 2, bits);
                    }
                }
                case Q8_0 -> {
                    for (int b = 0; b < n / BLOCK; b++) {
                        long blk = base + (long) b * Q8_BLOCK;
                        for (int j = 0; j < BLOCK; j++) {
                            data.set(ValueLayout.JAVA_BYTE, blk + (long) j * LANES + r, q.get(ValueLayout.JAVA_BYTE, (long) b * BLOCK + j));
                        }
                        data.set(F32, blk + Q8_QUANTS + r * 4L, q.get(F32, n + b * 4L));
                    }
                }
                case Q4_0 -> {
                    for (int b = 0; b < n / BLOCK; b++) {
                        long blk = base + (long) b * Q4_BLOCK;
                        for (int j = 0; j < BLOCK / 2; j++) {
                            data.set(ValueLayout.JAVA_BYTE, blk + (long) j * LANES + r, q.get(ValueLayout.JAVA_BYTE, (long) b * (BLOCK / 2) + j));
                        }
                        data.set(F32, blk + Q4_QUANTS + r * 4L, q.get(F32, n / 2 + b * 4L));
                    }
                }
            }
        }
    }

    /**
     * Row {@code o}'s product with {@code x[xOff…]}, in the order every kernel keeps: for float
     * weights {@code acc = fma(x[k], w[k], acc)} for k ascending from 0; for block-quantized weights,
     * per block {@code s = fma(x[k], q[k], s)} over its 32 inputs ascending from 0, then
     * {@code acc = fma(s, scale, acc)}. The plain reference of the vector tiles.
     */
    public float dot(float[] x, int xOff, int o) {
        long base = (long) (o / LANES) * panelBytes;
        int r = o % LANES;
        float acc = 0f;
        switch (dtype) {
            case F32 -> {
                for (int k = 0; k < n; k++) {
                    acc = Math.fma(x[xOff + k], data.get(F32, base + ((long) k * LANES + r) * 4), acc);
                }
            }
            case BF16 -> {
                for (int k = 0; k < n; k++) {
                    acc = Math.fma(x[xOff + k], DType.bf16ToFloat(data.get(U16, base + ((long) k * LANES + r) * 2)), acc);
                }
            }
            case F16 -> {
                for (int k = 0; k < n; k++) {
                    acc = Math.fma(x[xOff + k], Float.float16ToFloat(data.get(U16, base + ((long) k * LANES + r) * 2)), acc);
                }
            }
            case Q8_0 -> {
                for (int b = 0; b < n / BLOCK; b++) {
                    long blk = base + (long) b * Q8_BLOCK;
                    float s = 0f;
                    for (int j = 0; j < BLOCK; j++) {
                        s = Math.fma(x[xOff + b * BLOCK + j], data.get(ValueLayout.JAVA_BYTE, blk + (long) j * LANES + r), s);
                    }
                    acc = Math.fma(s, data.get(F32, blk + Q8_QUANTS + r * 4L), acc);
                }
            }
            case Q4_0 -> {
                for (int b = 0; b < n / BLOCK; b++) {
                    long blk = base + (long) b * Q4_BLOCK;
                    float s = 0f;
                    for (int j = 0; j < BLOCK; j++) {
                        byte v = data.get(ValueLayout.JAVA_BYTE, blk + (long) (j % (BLOCK / 2)) * LANES + r);
                        int q = (j < BLOCK / 2 ? v & 0x0f : (v >> 4) & 0x0f) - 8;
                        s = Math.fma(x[xOff + b * BLOCK + j], q, s);
                    }
                    acc = Math.fma(s, data.get(F32, blk + Q4_QUANTS + r * 4L), acc);
                }
            }
        }
        return acc;
    }

    public String name() {
        return name;
    }

    public DType dtype() {
        return dtype;
    }

    /** Output rows (the padding not counted). */
    public int rows() {
        return rows;
    }

    /** Inputs per row. */
    public int n() {
        return n;
    }

    /** Panels, a multiple of {@link #GROUP}. */
    public int panels() {
        return panels;
    }

    long panelBytes() {
        return panelBytes;
    }

    MemorySegment data() {
        return data;
    }

    /** Bytes held, padding included. */
    public long byteSize() {
        return data.byteSize();
    }
}
