package io.loraplex.engine.model;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A memory-mapped safetensors file: an 8-byte little-endian header length, a JSON header naming
 * each tensor's dtype, shape and byte range, then the data. Nothing is copied into the heap; the
 * mapping lives as long as the {@link Arena} it was opened in.
 */
public final class SafetensorsFile {

    /** Headers larger than this are refused rather than parsed (a corrupt length, not a model). */
    private static final long MAX_HEADER_BYTES = 100L << 20;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path path;
    private final MemorySegment data; // the data section, after the header
    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path path, MemorySegment data, Map<String, TensorInfo> tensors, Map<String, String> metadata) {
        this.path = path;
        this.data = data;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /** Maps {@code path} read-only into {@code arena} and validates its header against its size. */
    public static SafetensorsFile open(Path path, Arena arena) throws IOException {
        MemorySegment whole;
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = channel.size();
            if (size < 8) {
                throw new IOException(path + ": truncated safetensors file (" + size + " bytes, shorter than its 8-byte header length)");
            }
            whole = channel.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
        } catch (NoSuchFileException e) {
            throw new IOException(path + ": file not found", e);
        }
        long fileSize = whole.byteSize();
        long headerLength = whole.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (headerLength < 2 || headerLength > MAX_HEADER_BYTES) {
            throw new IOException(path + ": not a safetensors file (header length " + headerLength + " is out of range)");
        }
        if (8 + headerLength > fileSize) {
            throw new IOException(path + ": truncated safetensors file (header of " + headerLength
                    + " bytes does not fit in the file's " + fileSize + " bytes)");
        }
        byte[] headerBytes = whole.asSlice(8, headerLength).toArray(ValueLayout.JAVA_BYTE);
        ObjectNode header = readHeader(path, headerBytes);
        MemorySegment data = whole.asSlice(8 + headerLength);
        Map<String, TensorInfo> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> field : header.properties()) {
            String name = field.getKey();
            if (name.equals("__metadata__")) {
                field.getValue().properties().forEach(m -> metadata.put(m.getKey(), m.getValue().asText()));
                continue;
            }
            tensors.put(name, parseEntry(path, name, field.getValue(), data.byteSize()));
        }
        checkLayout(path, tensors.values(), data.byteSize());
        return new SafetensorsFile(path, data, Collections.unmodifiableMap(tensors), Collections.unmodifiableMap(metadata));
    }

    /**
     * The header as a JSON object, refusing a key that appears twice: JSON parsers disagree on
     * which of two values wins, so a duplicated tensor name could mean different bytes to
     * different readers of the same file.
     */
    private static ObjectNode readHeader(Path path, byte[] headerBytes) throws IOException {
        ObjectNode header = JSON.createObjectNode();
        try (JsonParser parser = JSON.createParser(headerBytes)) {
            if (parser.nextToken() != JsonToken.START_OBJECT) {
                throw new IOException(path + ": malformed safetensors header: not a JSON object");
            }
            while (parser.nextToken() == JsonToken.FIELD_NAME) {
                String key = parser.currentName();
                parser.nextToken();
                JsonNode value = JSON.readTree(parser);
                if (header.has(key)) {
                    throw new IOException(path + ": malformed safetensors header: key '" + key + "' appears twice");
                }
                header.set(key, value);
            }
            if (parser.nextToken() != null) {
                throw new IOException(path + ": malformed safetensors header: content after the header's JSON object");
            }
        } catch (JsonProcessingException e) {
            throw new IOException(path + ": malformed safetensors header JSON: " + e.getOriginalMessage(), e);
        }
        return header;
    }

    /**
     * The tensors must tile the data section exactly, as the format requires: sorted by offset,
     * the first starts at 0, each starts where the one before ends (an overlap would let two
     * tensors alias bytes, a gap hides bytes nobody validates), and the last ends at the file's end.
     */
    private static void checkLayout(Path path, java.util.Collection<TensorInfo> tensors, long dataSize) throws IOException {
        List<TensorInfo> byOffset = new ArrayList<>(tensors);
        byOffset.sort(Comparator.comparingLong(TensorInfo::dataStart).thenComparingLong(TensorInfo::dataEnd));
        long expected = 0;
        TensorInfo previous = null;
        for (TensorInfo t : byOffset) {
            if (t.dataStart() < expected) {
                throw new IOException(path + ": tensor '" + t.name() + "' data_offsets [" + t.dataStart() + ", " + t.dataEnd()
                        + "] overlap tensor '" + previous.name() + "', which ends at " + expected);
            }
            if (t.dataStart() > expected) {
                throw new IOException(path + ": tensor '" + t.name() + "' data_offsets [" + t.dataStart() + ", " + t.dataEnd()
                        + "] leave a gap of " + (t.dataStart() - expected) + " bytes after "
                        + (previous == null ? "the start of the data section" : "tensor '" + previous.name() + "'"));
            }
            expected = t.dataEnd();
            previous = t;
        }
        if (expected != dataSize) {
            throw new IOException(path + ": " + (dataSize - expected) + " trailing bytes after "
                    + (previous == null ? "the header (it names no tensors)" : "the last tensor, '" + previous.name() + "'")
                    + "; the data section has " + dataSize + " bytes and the tensors end at " + expected);
        }
    }

    private static TensorInfo parseEntry(Path path, String name, JsonNode entry, long dataSize) throws IOException {
        String where = path + ": tensor '" + name + "'";
        JsonNode dtypeNode = entry.get("dtype");
        JsonNode shapeNode = entry.get("shape");
        JsonNode offsetsNode = entry.get("data_offsets");
        if (dtypeNode == null || shapeNode == null || !shapeNode.isArray() || offsetsNode == null
                || !offsetsNode.isArray() || offsetsNode.size() != 2) {
            throw new IOException(where + ": header entry needs dtype, shape and data_offsets [start, end]");
        }
        DType dtype;
        try {
            dtype = DType.fromSafetensors(dtypeNode.asText(), where);
        } catch (IllegalArgumentException e) {
            throw new IOException(e.getMessage(), e);
        }
        long[] shape = new long[shapeNode.size()];
        long count = 1;
        for (int i = 0; i < shape.length; i++) {
            JsonNode dim = shapeNode.get(i);
            if (!dim.canConvertToLong() || dim.asLong() < 0) {
                throw new IOException(where + ": shape " + shapeNode + " has a dimension that is not a non-negative integer");
            }
            shape[i] = dim.asLong();
            count = Math.multiplyExact(count, shape[i]);
        }
        long start = offsetsNode.get(0).asLong(-1);
        long end = offsetsNode.get(1).asLong(-1);
        if (start < 0 || end < start) {
            throw new IOException(where + ": invalid data_offsets " + offsetsNode);
        }
        long expected = count * dtype.bytes();
        if (end - start != expected) {
            throw new IOException(where + ": data_offsets " + offsetsNode + " hold " + (end - start)
                    + " bytes but shape " + shapeNode + " of " + dtype.safetensorsName() + " needs " + expected);
        }
        if (end > dataSize) {
            throw new IOException(where + ": truncated file: the tensor's data ends at byte " + end
                    + " of the data section, which has only " + dataSize + " bytes");
        }
        return new TensorInfo(name, dtype, shape, start, end);
    }

    public Path path() {
        return path;
    }

    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    public Map<String, String> metadata() {
        return metadata;
    }

    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    /** A view of one tensor's bytes; no copy. */
    public Tensor tensor(String name) {
        TensorInfo info = tensors.get(name);
        if (info == null) {
            throw new IllegalArgumentException(path + ": no tensor named '" + name + "'");
        }
        return new Tensor(info.name(), info.dtype(), info.shape(), data.asSlice(info.dataStart(), info.byteLength()));
    }
}
