package io.loraplex.engine.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes safetensors files from float arrays or from {@link ValueSource}s, narrowing to the requested
 * dtype. Tensors are written in the order added; the header is padded with spaces to a multiple of 8
 * bytes as Hugging Face does. A source is read only while its tensor is written, a chunk at a time, so
 * a model of any size passes through a heap of a few hundred kilobytes (an 8B bf16 file is 16 GB).
 */
public final class SafetensorsWriter {

    /** Values produced in order when the tensor is written, so the tensor never sits whole in the heap. */
    @FunctionalInterface
    public interface ValueSource {
        /** Writes the tensor's next {@code count} values (row-major) into {@code dst[0, count)}. */
        void next(float[] dst, int count);
    }

    /** Floats converted per write: 256 KiB of f32, bounded whatever the tensor's size. */
    private static final int CHUNK = 1 << 16;

    /** One tensor: its values held ({@code values}) or produced at write time ({@code source}). */
    private record Entry(String name, DType dtype, long[] shape, long count, float[] values, ValueSource source) {
    }

    private final List<Entry> entries = new ArrayList<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    public SafetensorsWriter() {
        metadata.put("format", "pt");
    }

    public SafetensorsWriter add(String name, DType dtype, float[] values, long... shape) {
        long count = 1;
        for (long d : shape) {
            count *= d;
        }
        if (count != values.length) {
            throw new IllegalArgumentException(name + ": " + values.length + " values do not fill shape "
                    + java.util.Arrays.toString(shape));
        }
        entries.add(new Entry(name, dtype, shape.clone(), count, values, null));
        return this;
    }

    /**
     * A tensor whose values {@code source} produces, in order, when {@link #write} reaches it; a source
     * is read once, so a writer holding one writes one file.
     */
    public SafetensorsWriter add(String name, DType dtype, ValueSource source, long... shape) {
        if (dtype.quantized()) {
            throw new IllegalArgumentException(name + ": " + dtype + " exists only in memory; safetensors files hold F32, F16 or BF16");
        }
        long count = 1;
        for (long d : shape) {
            count = Math.multiplyExact(count, d);
        }
        entries.add(new Entry(name, dtype, shape.clone(), count, null, source));
        return this;
    }

    public SafetensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    /** Total bytes of tensor data added so far (for sharding). */
    public long dataBytes() {
        long n = 0;
        for (Entry e : entries) {
            n += e.count * e.dtype.bytes();
        }
        return n;
    }

    public List<String> names() {
        return entries.stream().map(Entry::name).toList();
    }

    public void write(Path file) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode header = json.createObjectNode();
        ObjectNode meta = header.putObject("__metadata__");
        metadata.forEach(meta::put);
        long offset = 0;
        for (Entry e : entries) {
            ObjectNode t = header.putObject(e.name);
            t.put("dtype", e.dtype.safetensorsName());
            var shape = t.putArray("shape");
            for (long d : e.shape) {
                shape.add(d);
            }
            long bytes = e.count * e.dtype.bytes();
            t.putArray("data_offsets").add(offset).add(offset + bytes);
            offset += bytes;
        }
        byte[] headerBytes = json.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
        int padded = (headerBytes.length + 7) / 8 * 8;
        byte[] headerPadded = new byte[padded];
        java.util.Arrays.fill(headerPadded, (byte) ' ');
        System.arraycopy(headerBytes, 0, headerPadded, 0, headerBytes.length);

        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (OutputStream out = new java.io.BufferedOutputStream(Files.newOutputStream(tmp), 1 << 20)) {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded);
            out.write(len.array());
            out.write(headerPadded);
            float[] values = new float[CHUNK];
            byte[] chunk = new byte[CHUNK * Float.BYTES];
            for (Entry e : entries) {
                writeValues(out, e, values, chunk);
            }
        }
        Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    private static void writeValues(OutputStream out, Entry e, float[] values, byte[] chunk) throws IOException {
        ByteBuffer buf = ByteBuffer.wrap(chunk).order(ByteOrder.LITTLE_ENDIAN);
        for (long done = 0; done < e.count; ) {
            int n = (int) Math.min(CHUNK, e.count - done);
            if (e.values != null) {
                System.arraycopy(e.values, (int) done, values, 0, n);
            } else {
                e.source.next(values, n);
            }
            buf.clear();
            for (int i = 0; i < n; i++) {
                float v = values[i];
                switch (e.dtype) {
                    case F32 -> buf.putFloat(v);
                    case BF16 -> buf.putShort(DType.floatToBf16(v));
                    case F16 -> buf.putShort(Float.floatToFloat16(v));
                }
            }
            out.write(chunk, 0, buf.position());
            done += n;
        }
    }
}
