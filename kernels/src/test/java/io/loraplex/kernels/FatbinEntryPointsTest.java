package io.loraplex.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.loraplex.kernels.FatbinContents.Image;
import io.loraplex.kernels.FatbinContents.Kind;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/** The fatbins the build made hold every declared kernel for sm_80 and sm_90, and PTX for compute_90. */
class FatbinEntryPointsTest {

    private static final String NO_NVCC = "the kernels module was built without nvcc: it has no fatbins to inspect";

    @Test
    void everyDeclaredEntryPointIsInTheSm80AndSm90CubinsAndTheCompute90Ptx() {
        KernelImages images = KernelImages.fromClassPath();
        assumeTrue(images.nvccVersion().isPresent(), NO_NVCC);
        List<String> problems = new ArrayList<>();
        for (KernelImage image : KernelImage.values()) {
            FatbinContents contents = FatbinContents.read(image.fatbinFile(), images.bytes(image));
            Set<String> declared = new TreeSet<>(Kernels.in(image).stream().map(KernelSignature::entryPoint).toList());
            check(problems, image, contents, Kind.ELF, 80, declared);
            check(problems, image, contents, Kind.ELF, 90, declared);
            check(problems, image, contents, Kind.PTX, 90, declared);
            if (contents.images().size() != 3) {
                problems.add(image.fatbinFile() + " holds " + contents.images() + ", not exactly those three images");
            }
        }
        assertEquals(List.of(), problems);
    }

    private static void check(List<String> problems, KernelImage image, FatbinContents contents, Kind kind, int arch,
            Set<String> declared) {
        List<Image> found = contents.images(kind, arch);
        if (found.size() != 1) {
            problems.add(image.fatbinFile() + " has " + found.size() + " " + kind + " images for arch " + arch);
        } else if (!found.getFirst().entryPoints().equals(declared)) {
            problems.add(image.fatbinFile() + " " + kind + " " + arch + " defines " + found.getFirst().entryPoints()
                    + ", Kernels declares " + declared);
        }
    }

    @Test
    void cuobjdumpListsTheSameEntryPointsWhereItIsInstalled() throws IOException, InterruptedException {
        KernelImages images = KernelImages.fromClassPath();
        assumeTrue(images.nvccVersion().isPresent(), NO_NVCC);
        Optional<Path> cuobjdump = Nvcc.onPath("cuobjdump");
        assumeTrue(cuobjdump.isPresent(), "cuobjdump is not on PATH (nvcc here comes without it); "
                + "FatbinContents reads the symbols instead");
        for (KernelImage image : KernelImage.values()) {
            Path fatbin = Path.of("target/classes").resolve(image.resourceName());
            Process p = new ProcessBuilder(cuobjdump.get().toString(), "-symbols", fatbin.toString())
                    .redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertEquals(0, p.waitFor(), out);
            for (KernelSignature k : Kernels.in(image)) {
                assertTrue(out.contains(k.entryPoint()), image.fatbinFile() + " lacks " + k.entryPoint() + ":\n" + out);
            }
        }
    }

    @Test
    void thePtxasReportHasRegistersAndSpillsOfEveryKernelForBothArchitectures() throws IOException {
        assumeTrue(KernelImages.fromClassPath().nvccVersion().isPresent(), NO_NVCC);
        String report = Files.readString(Path.of("target/ptxas-report.txt"));
        for (KernelSignature k : Kernels.ALL) {
            for (String arch : List.of("sm_80", "sm_90")) {
                assertTrue(report.contains("Compiling entry function '" + k.entryPoint() + "' for '" + arch + "'"),
                        "the ptxas report lacks " + k.entryPoint() + " for " + arch);
            }
        }
        assertTrue(report.contains("spill stores"), "the ptxas report has no spill counts");
    }

    @Test
    void bytesThatAreNotAFatbinAreRefusedNamingTheFile() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> FatbinContents.read("rope.fatbin", "not a fatbin at all".getBytes(StandardCharsets.US_ASCII)));
        assertEquals("rope.fatbin is not a fatbin (no 0xBA55ED50 magic)", e.getMessage());
    }
}
