package io.loraplex.engine.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.loraplex.kernels.KernelSignature;
import io.loraplex.kernels.Kernels;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

class HostKernelsTest {

    @Test
    void everyKernelEntryPointHasAHostVersionAndThereAreNoOthers() {
        Set<String> declared = new TreeSet<>(Kernels.ALL.stream().map(KernelSignature::entryPoint).toList());
        assertEquals(declared, new TreeSet<>(HostKernels.entryPoints()));
        for (KernelSignature k : Kernels.ALL) {
            HostKernels.of(k); // does not throw
        }
    }

    @Test
    void aNullPointerArgumentIsRefusedNamingTheKernelAndParameter() {
        try (HostKernelFixture f = new HostKernelFixture(1)) {
            long x = f.bf16(new float[] {1, 2});
            f.assertRefused("loraplex_add: delta is null", Kernels.ADD, LaunchShape.of(1, 1, 256),
                    x, 0L, 1, 2, 2, 2);
        }
    }

    @Test
    void anArgumentOfTheWrongJavaTypeIsRefusedBeforeAnyKernelRuns() {
        try (HostKernelFixture f = new HostKernelFixture(1)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> f.launch(Kernels.ADD, LaunchShape.of(1, 1, 256), 1L, 2L, 1, 2, 2, 2.0f));
            assertEquals("loraplex_add parameter 5 (int delta_stride) needs a Integer, got Float", e.getMessage());
        }
    }
}
