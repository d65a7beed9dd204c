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
 * Writes safetensors files from float arrays, narrowing to the requested dtype. Tensors are written
 * in the order added; the header is padded with spaces to a multiple of 8 bytes as Hugging Face does.
 */
public final class SafetensorsWriter {

    private record Entry(String name, DType dtype, long[] shape, float[] values) {
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
        entries.add(new Entry(name, dtype, shape.clone(), values));
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
            n += (long) e.values.length * e.dtype.bytes();
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
            long bytes = (long) e.values.length * e.dtype.bytes();
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
            byte[] chunk = new byte[1 << 16];
            for (Entry e : entries) {
                writeValues(out, e, chunk);
            }
        }
        Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    private static void writeValues(OutputStream out, Entry e, byte[] chunk) throws IOException {
        ByteBuffer buf = ByteBuffer.wrap(chunk).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : e.values) {
            if (buf.remaining() < 4) {
                out.write(chunk, 0, buf.position());
                buf.clear();
            }
            switch (e.dtype) {
                case F32 -> buf.putFloat(v);
                case BF16 -> buf.putShort(DType.floatToBf16(v));
                case F16 -> buf.putShort(Float.floatToFloat16(v));
            }
        }
        out.write(chunk, 0, buf.position());
    }
}
