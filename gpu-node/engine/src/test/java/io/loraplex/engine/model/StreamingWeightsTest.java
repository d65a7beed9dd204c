package io.loraplex.engine.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The generator writes tensor by tensor from value sources (so an 8B model never sits in the heap), and
 * writes the same bytes as before it streamed. The SHA-256s below are of the files the generator wrote
 * when it drew every tensor into a float array first (commit 73d1ab7); regenerate them only if the
 * random weights are meant to change, since the golden fixtures of other tests are built on them.
 */
class StreamingWeightsTest {

    @TempDir
    Path dir;

    private static String sha256(Path file) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));
    }

    @Test
    void aStreamedLlamaInBf16HasTheBytesOfTheGeneratorThatHeldWholeTensors() throws Exception {
        Path m = dir.resolve("llama");
        TinyModel.write(m, new TinyModel.Spec(Architecture.LLAMA, 64, 2, 4, 2, null, 160, 600, DType.BF16, null, null, 64, null, 0,
                null, null, 1, 3));
        assertEquals("93b1dec7b577355f368cbb82db1460e51d04fde8c9940d913ef8dfb7ada20094", sha256(m.resolve("model.safetensors")));
    }

    @Test
    void aStreamedGemma2InF32WithZeroCentredNormsHasTheBytesOfTheGeneratorThatHeldWholeTensors() throws Exception {
        Path m = dir.resolve("gemma2");
        TinyModel.write(m, new TinyModel.Spec(Architecture.GEMMA2, 64, 2, 4, 2, null, 160, 1024, DType.F32, null, null, 64, null, 0,
                null, null, 1, 9));
        assertEquals("3ec6477d1dbc82229fbd8f12f4ac8dbfb94fe44ccb40fa872158f0309e1d4810", sha256(m.resolve("model.safetensors")));
    }

    @Test
    void aStreamedQwen2InF16WithBiasesInThreeShardsHasTheBytesOfTheGeneratorThatHeldWholeTensors() throws Exception {
        Path m = dir.resolve("qwen2");
        TinyModel.write(m, new TinyModel.Spec(Architecture.QWEN2, 64, 3, 4, 2, null, 160, 600, DType.F16, null, null, 64, null, 0,
                null, null, 3, 5));
        assertEquals("b01b1ad8efd3937b3acd9be2a0abb5347e0aadb044512b49bc615bc16a9370dd",
                sha256(m.resolve("model-00001-of-00003.safetensors")));
        assertEquals("a1936d8beac28e28c9f9285eb925279eedf63b3e9f063aded9508879ba874cc6",
                sha256(m.resolve("model-00002-of-00003.safetensors")));
        assertEquals("0860653ed7a475d799b3795b1e773dc9a6f72898cb64610231fcf6592c4afcac",
                sha256(m.resolve("model-00003-of-00003.safetensors")));
        assertEquals("39cca5b1f04fcfa2fbe7cb7c5b229fd68b2e19c4824636f57f35a602d4a75f39",
                sha256(m.resolve(WeightFiles.INDEX)));
    }

    @Test
    void aSourceIsAskedForABoundedChunkAtATimeWhateverTheTensorsSize() throws Exception {
        long rows = 300;
        long cols = 1000; // 300k values, several chunks
        long[] asked = {0, 0}; // total, largest single request
        SafetensorsWriter w = new SafetensorsWriter().add("big", DType.BF16, (dst, count) -> {
            for (int i = 0; i < count; i++) {
                dst[i] = (float) ((asked[0] + i) % 7);
            }
            asked[0] += count;
            asked[1] = Math.max(asked[1], count);
        }, rows, cols);
        Path file = dir.resolve("big.safetensors");
        w.write(file);
        assertEquals(rows * cols, asked[0], "every value asked for exactly once");
        assertTrue(asked[1] <= 1 << 16, "largest request " + asked[1] + " values, more than a chunk");
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = SafetensorsFile.open(file, arena).tensor("big");
            assertArrayEquals(new long[] {rows, cols}, t.shape());
            for (long i = 0; i < rows * cols; i += 977) {
                assertEquals((float) (i % 7), t.get(i), 0f, "element " + i);
            }
        }
    }

    @Test
    void aTensorFromASourceReadsBackAsTheSameTensorFromAnArray() throws Exception {
        float[] values = RandomWeights.gaussian(new SplittableRandom(11), 96 * 70, 1.0);
        for (DType dtype : List.of(DType.F32, DType.BF16, DType.F16)) {
            Path fromArray = dir.resolve("array-" + dtype + ".safetensors");
            Path fromSource = dir.resolve("source-" + dtype + ".safetensors");
            new SafetensorsWriter().add("w", dtype, values, 96, 70).write(fromArray);
            int[] next = {0};
            new SafetensorsWriter().add("w", dtype, (dst, count) -> {
                System.arraycopy(values, next[0], dst, 0, count);
                next[0] += count;
            }, 96, 70).write(fromSource);
            assertArrayEquals(Files.readAllBytes(fromArray), Files.readAllBytes(fromSource), dtype.toString());
        }
    }

    @Test
    void aQuantizedDtypeIsRefusedForAFileNamingTheTensor() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new SafetensorsWriter().add("model.layers.0.mlp.up_proj.weight", DType.Q8_0, (dst, n) -> { }, 32, 32));
        assertEquals("model.layers.0.mlp.up_proj.weight: Q8_0 exists only in memory; safetensors files hold F32, F16 or BF16",
                e.getMessage());
    }
}
