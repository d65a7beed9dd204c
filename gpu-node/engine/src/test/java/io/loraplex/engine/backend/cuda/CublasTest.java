package io.loraplex.engine.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CublasTest {

    @TempDir
    Path tmp;

    @Test
    void theEnvironmentVariableWinsWhenItNamesAFile() throws Exception {
        Path lib = Files.createFile(tmp.resolve("libcublas.so.13.0.0"));
        Path dir = Files.createDirectories(tmp.resolve("cuda/lib64"));
        Files.createFile(dir.resolve("libcublas.so.13"));

        Cublas.Location at = Cublas.locate(Map.of(Cublas.ENV, lib.toString()), List.of(dir));

        assertEquals(lib, at.library().orElseThrow());
    }

    @Test
    void aMissingFileInTheEnvironmentVariableIsReportedAndNotReplacedByAnotherLibrary() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("cuda/lib64"));
        Files.createFile(dir.resolve("libcublas.so.13"));
        Path missing = tmp.resolve("nowhere/libcublas.so.13");

        Cublas.Location at = Cublas.locate(Map.of(Cublas.ENV, missing.toString()), List.of(dir));

        assertTrue(at.library().isEmpty());
        assertEquals("cuBLAS not found (libcublas.so.13 or libcublas.so.12 or libcublas.so); looked in: "
                + "LORAPLEX_CUBLAS=" + missing + " (no such file)", at.notFound());
    }

    @Test
    void theFirstDirectoryHoldingALibraryIsChosenAndTheNewestSonameFirst() throws Exception {
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        Path wheel = Files.createDirectories(tmp.resolve("site-packages/nvidia/cu13/lib"));
        Files.createFile(wheel.resolve("libcublas.so.12"));
        Files.createFile(wheel.resolve("libcublas.so.13"));
        Path later = Files.createDirectories(tmp.resolve("later"));
        Files.createFile(later.resolve("libcublas.so.13"));

        Cublas.Location at = Cublas.locate(Map.of(), List.of(empty, wheel, later));

        assertEquals(wheel.resolve("libcublas.so.13"), at.library().orElseThrow());
    }

    @Test
    void notFindingCublasListsEveryPlaceLooked() throws Exception {
        Path a = Files.createDirectories(tmp.resolve("a"));
        Path b = Files.createDirectories(tmp.resolve("b"));

        Cublas.Location at = Cublas.locate(Map.of(), List.of(a, b));

        assertTrue(at.library().isEmpty());
        assertEquals("cuBLAS not found (libcublas.so.13 or libcublas.so.12 or libcublas.so); looked in: "
                + "LORAPLEX_CUBLAS (unset), " + a + ", " + b, at.notFound());
    }

    @Test
    void theSearchLooksInCudaHomeAndInPipsNvidiaWheelsOfAVirtualEnvironment() throws Exception {
        Path home = Files.createDirectories(tmp.resolve("cuda-13.0/lib64"));
        Path wheel = Files.createDirectories(tmp.resolve("venv/lib/python3.12/site-packages/nvidia/cu13/lib"));
        Path cublasWheel = Files.createDirectories(tmp.resolve("venv/lib/python3.12/site-packages/nvidia/cublas/lib"));

        List<Path> dirs = Cublas.searchDirs(Map.of("CUDA_HOME", tmp.resolve("cuda-13.0").toString(),
                "VIRTUAL_ENV", tmp.resolve("venv").toString()));

        assertEquals(home, dirs.get(0));
        assertTrue(dirs.indexOf(wheel) > 0 && dirs.indexOf(wheel) < dirs.indexOf(cublasWheel), dirs.toString());
    }

    @Test
    void aLibraryWithoutCublasSymbolsIsRefusedNamingTheFirstMissingSymbol() {
        Path libc = Arrays.stream(new String[] {"/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib64/libc.so.6", "/lib64/libc.so.6"})
                .map(Path::of).filter(Files::isRegularFile).findFirst().orElse(null);
        assumeTrue(libc != null, "no libc.so.6 at the usual places to stand in for a library without cuBLAS");

        DeviceException e = assertThrows(DeviceException.class, () -> Cublas.load(libc));

        assertEquals(libc + " has no symbol cublasCreate_v2", e.getMessage());
    }

    @Test
    void aFileThatIsNoLibraryIsRefusedWhenOpened() throws Exception {
        Path notALibrary = Files.writeString(tmp.resolve("libcublas.so.13"), "not an ELF file");

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Cublas.load(notALibrary));

        assertTrue(e.getMessage().contains(notALibrary.toString()), e.getMessage());
    }

    @Test
    void everySymbolTheBindingLooksUpIsACublasEntryPointAndOnlyTheStatusNameIsOptional() {
        List<String> symbols = Arrays.stream(Cublas.Function.values()).map(f -> f.symbol).toList();

        assertEquals(List.of("cublasCreate_v2", "cublasDestroy_v2", "cublasGetVersion_v2", "cublasSetStream_v2",
                "cublasSetWorkspace_v2", "cublasSetMathMode", "cublasGemmEx", "cublasGetStatusName"), symbols);
        for (Cublas.Function f : Cublas.Function.values()) {
            assertEquals(f != Cublas.Function.GET_STATUS_NAME, f.required, f.symbol);
        }
        assertEquals(19, Cublas.Function.GEMM_EX.descriptor.argumentLayouts().size());
        assertFalse(Cublas.Function.GEMM_EX.descriptor.returnLayout().isEmpty());
    }
}
