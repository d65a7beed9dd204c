package io.loraplex.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.loraplex.kernels.FatbinContents.Image;
import io.loraplex.kernels.FatbinContents.Kind;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * The fatbins the build made hold every declared kernel for sm_80 and sm_90, and PTX for compute_90;
 * {@link FatbinContents} reads them (its refusals are checked on made-up bytes, with or without nvcc).
 */
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
    void aPtxImageListsItsEntriesWithoutNvcc() {
        byte[] ptx = ".visible .entry loraplex_a(\n.param .u64 p)\n{ ret; }\n.visible .entry loraplex_b()\n{ ret; }\n"
                .getBytes(StandardCharsets.US_ASCII);
        FatbinContents contents = FatbinContents.read("a.fatbin", fatbin(1, 90, 0, ptx));
        assertEquals(List.of(new Image(Kind.PTX, 90, Set.of("loraplex_a", "loraplex_b"))), contents.images());
    }

    @Test
    void aCompressedImageIsRefusedNamingTheFileAndArchitecture() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> FatbinContents.read("a.fatbin", fatbin(2, 80, 0x2000, new byte[16])));
        assertEquals("a.fatbin: the image for arch 80 is compressed; build with nvcc --no-compress", e.getMessage());
    }

    @Test
    void aTruncatedFatbinIsRefusedSayingHowShort() {
        byte[] whole = fatbin(1, 90, 0, new byte[32]);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> FatbinContents.read("a.fatbin", Arrays.copyOf(whole, whole.length - 8)));
        assertEquals("a.fatbin is truncated: its header promises 112 bytes, it has 104", e.getMessage());
    }

    /** A fatbin of one image: the 16-byte header, a 64-byte entry header, the payload. */
    private static byte[] fatbin(int kind, int arch, long flags, byte[] payload) {
        ByteBuffer b = ByteBuffer.allocate(16 + 64 + payload.length)
                .order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0xBA55ED50).putShort((short) 1).putShort((short) 16).putLong(64 + payload.length);
        b.putShort((short) kind).putShort((short) 0x0101).putInt(64).putLong(payload.length);
        b.putInt(0).putInt(0).putShort((short) 0).putShort((short) 0).putInt(arch); // bytes 16..31
        b.putInt(0).putInt(0).putLong(flags).putLong(0).putLong(0);                  // bytes 32..63
        b.put(payload);
        return b.array();
    }

    @Test
    void bytesThatAreNotAFatbinAreRefusedNamingTheFile() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> FatbinContents.read("rope.fatbin", "not a fatbin at all".getBytes(StandardCharsets.US_ASCII)));
        assertEquals("rope.fatbin is not a fatbin (no 0xBA55ED50 magic)", e.getMessage());
    }
}
