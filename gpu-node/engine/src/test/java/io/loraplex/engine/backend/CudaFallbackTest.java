package io.loraplex.engine.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.loraplex.engine.TestModels;
import io.loraplex.engine.backend.cuda.CudaDevice;
import io.loraplex.engine.model.BaseModel;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.WeightFormat;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code --backend cuda} where the CUDA backend cannot run still serves, on the CPU, saying why. */
class CudaFallbackTest {

    @Test
    void withoutAGpuTheCudaBackendFallsBackToTheCpuAndSaysWhy(@TempDir Path dir) throws Exception {
        assumeTrue(CudaDevice.open(0) instanceof CudaDevice.Unavailable, "a GPU is here: the fallback is not taken");
        ModelConfig cfg = TestModels.llama(DType.F32);
        TestModels.write(dir, cfg, 5);
        try (BaseModel model = BaseModel.load(dir); Backend backend = Backends.create(Backends.CUDA, model, 1)) {
            assertInstanceOf(CpuBackend.class, backend);
            String why = Backends.cudaUnavailable(model);
            assertNotNull(why);
            assertTrue(why.contains("libcuda.so.1") || why.contains("driver") || why.contains("fatbin"), why);
        }
    }

    @Test
    void aModelTheCudaBackendDoesNotRunIsServedOnTheCpuEvenWithAGpu(@TempDir Path dir) throws Exception {
        ModelConfig cfg = TestModels.llama(DType.F32);
        TestModels.write(dir, cfg, 5);
        try (BaseModel model = BaseModel.load(dir, WeightFormat.INT4); Backend backend = Backends.create(Backends.CUDA, model, 1)) {
            assertInstanceOf(CpuBackend.class, backend);
            assertEquals("the CUDA backend serves bf16 weights; --weights int4 runs on the CPU", Backends.cudaUnavailable(model));
        }
    }

    @Test
    void anUnknownBackendNamesTheThreeThatExist(@TempDir Path dir) throws Exception {
        ModelConfig cfg = TestModels.llama(DType.F32);
        TestModels.write(dir, cfg, 5);
        try (BaseModel model = BaseModel.load(dir)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Backends.create("rocm", model, 1));
            assertEquals("unknown backend 'rocm' (use cpu, cuda or reference)", e.getMessage());
        }
    }
}
