package io.loraplex.engine.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * The weight files of a model directory, memory-mapped: {@code model.safetensors}, or the shards
 * named by {@code model.safetensors.index.json}. Closing it unmaps every file.
 */
public final class WeightFiles implements AutoCloseable {

    public static final String SINGLE = "model.safetensors";
    public static final String INDEX = "model.safetensors.index.json";

    private final Arena arena;
    private final List<Path> files;
    private final Map<String, SafetensorsFile> byTensor;

    private WeightFiles(Arena arena, List<Path> files, Map<String, SafetensorsFile> byTensor) {
        this.arena = arena;
        this.files = files;
        this.byTensor = byTensor;
    }

    public static WeightFiles open(Path dir) throws IOException {
        Path single = dir.resolve(SINGLE);
        Path index = dir.resolve(INDEX);
        Arena arena = Arena.ofShared();
        try {
            Map<String, SafetensorsFile> byTensor = new LinkedHashMap<>();
            List<Path> files = new ArrayList<>();
            if (Files.exists(index)) {
                files.add(index);
                Map<String, String> weightMap = readIndex(index);
                Map<String, SafetensorsFile> shards = new LinkedHashMap<>();
                for (String shardName : new TreeSet<>(weightMap.values())) {
                    Path shardPath = dir.resolve(shardName);
                    if (!Files.exists(shardPath)) {
                        throw new IOException(index + " names shard '" + shardName + "', which is missing");
                    }
                    shards.put(shardName, SafetensorsFile.open(shardPath, arena));
                    files.add(shardPath);
                }
                for (Map.Entry<String, String> e : weightMap.entrySet()) {
                    SafetensorsFile shard = shards.get(e.getValue());
                    if (!shard.contains(e.getKey())) {
                        throw new IOException(index + " places tensor '" + e.getKey() + "' in " + e.getValue()
                                + ", which does not contain it");
                    }
                    byTensor.put(e.getKey(), shard);
                }
            } else if (Files.exists(single)) {
                SafetensorsFile file = SafetensorsFile.open(single, arena);
                files.add(single);
                file.tensors().keySet().forEach(name -> byTensor.put(name, file));
            } else if (Files.exists(dir.resolve("pytorch_model.bin"))) {
                throw new IOException(dir + ": only pytorch_model.bin (pickle) is present; loraplex loads safetensors only");
            } else {
                throw new IOException(dir + ": no " + SINGLE + " or " + INDEX + " found");
            }
            return new WeightFiles(arena, List.copyOf(files), byTensor);
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static Map<String, String> readIndex(Path index) throws IOException {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(Files.readString(index));
        } catch (IOException e) {
            throw new IOException(index + ": malformed JSON: " + e.getMessage(), e);
        }
        JsonNode map = root == null ? null : root.get("weight_map");
        if (map == null || !map.isObject()) {
            throw new IOException(index + ": missing 'weight_map' object");
        }
        Map<String, String> out = new LinkedHashMap<>();
        map.properties().forEach(e -> out.put(e.getKey(), e.getValue().asText()));
        return out;
    }

    /** The files read (the index first when sharded), for the model identity. */
    public List<Path> files() {
        return files;
    }

    public Set<String> names() {
        return byTensor.keySet();
    }

    public boolean contains(String name) {
        return byTensor.containsKey(name);
    }

    public Tensor tensor(String name) throws IOException {
        SafetensorsFile file = byTensor.get(name);
        if (file == null) {
            throw new IOException("missing weight tensor '" + name + "'");
        }
        return file.tensor(name);
    }

    @Override
    public void close() {
        arena.close();
    }
}
