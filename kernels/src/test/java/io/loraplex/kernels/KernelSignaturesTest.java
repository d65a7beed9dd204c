package io.loraplex.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

class KernelSignaturesTest {

    static final Path CUDA = Path.of("src/main/cuda");

    @Test
    void everyKernelDeclaredInJavaHasTheParametersOfItsCudaSourceInOrder() throws IOException {
        List<String> problems = new ArrayList<>();
        for (KernelImage image : KernelImage.values()) {
            String source = Files.readString(CUDA.resolve(image.sourceFile()));
            problems.addAll(CudaSignatures.differences(image, Kernels.in(image),
                    CudaSignatures.parse(image.sourceFile(), source)));
        }
        assertEquals(List.of(), problems);
    }

    @Test
    void everyCudaSourceIsAKernelImageAndEveryEntryPointIsDeclaredOnce() throws IOException {
        Set<String> files = new TreeSet<>();
        try (Stream<Path> list = Files.list(CUDA)) {
            list.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".cu")).forEach(files::add);
        }
        Set<String> images = new TreeSet<>();
        for (KernelImage image : KernelImage.values()) {
            images.add(image.sourceFile());
        }
        assertEquals(images, files);
        Set<String> names = new TreeSet<>();
        for (KernelSignature k : Kernels.ALL) {
            assertTrue(names.add(k.entryPoint()), k.entryPoint() + " is declared twice");
        }
        int perImage = 0;
        for (KernelImage image : KernelImage.values()) {
            perImage += Kernels.in(image).size();
        }
        assertEquals(Kernels.ALL.size(), perImage);
    }

    @Test
    void theLimitsLaunchersCheckAreTheOnesTheKernelsAreCompiledWith() throws IOException {
        assertEquals(Kernels.MAX_HEAD_DIM, constant(KernelImage.PAGED_ATTENTION, "MAX_HEAD_DIM"));
        assertEquals(Kernels.MAX_ROTARY_HALF, constant(KernelImage.ROPE, "MAX_HALF"));
        assertEquals(Kernels.PREFILL_TILE_ROWS, constant(KernelImage.PAGED_ATTENTION, "TILE_ROWS"));
    }

    private static int constant(KernelImage image, String name) throws IOException {
        Matcher m = Pattern.compile("constexpr int " + name + " = (\\d+);")
                .matcher(Files.readString(CUDA.resolve(image.sourceFile())));
        assertTrue(m.find(), image.sourceFile() + " has no 'constexpr int " + name + " = ...;'");
        return Integer.parseInt(m.group(1));
    }

    @Test
    void aParameterWhoseTypeDriftedFromTheSourceIsReportedByKernelPositionAndBothSpellings() {
        String source = """
                // a comment naming extern "C" __global__ void loraplex_ghost(int x) is not a kernel
                extern "C" __global__ void loraplex_rmsnorm(
                        __nv_bfloat16* out, const __nv_bfloat16* x, const float* weight,
                        int rows, int n, float eps, int add_one) {
                }
                """;
        List<String> problems = CudaSignatures.differences(KernelImage.RMSNORM, List.of(Kernels.RMSNORM),
                CudaSignatures.parse("rmsnorm.cu", source));
        assertEquals(List.of("loraplex_rmsnorm parameter 2: Kernels declares 'const __nv_bfloat16* weight', "
                + "rmsnorm.cu has 'const float* weight'"), problems);
    }

    @Test
    void aKernelMissingFromJavaOrFromTheSourceIsReported() {
        String source = """
                extern "C" __global__ void loraplex_swiglu_fused(__nv_bfloat16* out, int n) {}
                """;
        List<String> problems = CudaSignatures.differences(KernelImage.SWIGLU, List.of(Kernels.SWIGLU),
                CudaSignatures.parse("swiglu.cu", source));
        assertEquals(List.of("swiglu.cu does not define loraplex_swiglu, which Kernels declares",
                "swiglu.cu defines loraplex_swiglu_fused, which Kernels does not declare"), problems);
    }

    @Test
    void aSourceParameterOfATypeNoParamTypeSpellsIsRefusedNamingIt() {
        String source = """
                extern "C" __global__ void loraplex_x(__nv_bfloat16* __restrict__ out, const half* h) {}
                """;
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CudaSignatures.parse("x.cu", source));
        assertEquals("x.cu: loraplex_x parameter 'h' has type 'const half*', which ParamType does not spell",
                e.getMessage());
    }

    @Test
    void aSignatureNamesItsParametersAndRefusesAnEntryPointOutsideTheLoraplexPrefix() {
        assertEquals(3, Kernels.RMSNORM.indexOf("rows"));
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
                () -> Kernels.RMSNORM.indexOf("cols"));
        assertEquals("loraplex_rmsnorm has no parameter 'cols'", unknown.getMessage());
        IllegalArgumentException prefix = assertThrows(IllegalArgumentException.class,
                () -> new KernelSignature(KernelImage.RMSNORM, "rmsnorm", Kernels.RMSNORM.params()));
        assertEquals("entry point must start with 'loraplex_', got 'rmsnorm'", prefix.getMessage());
    }
}
