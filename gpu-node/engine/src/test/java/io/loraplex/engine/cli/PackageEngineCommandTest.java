package io.loraplex.engine.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code package-engine}'s parts that need no distribution; PackagedEngineIT (deploy) builds a package
 * from the distribution and runs the engine on it with no other Java.
 */
class PackageEngineCommandTest {

    private record Result(int exit, String out, String err) {
    }

    private static Result run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int exit = EngineCli.run("package-engine", args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Result(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void theRuntimeListNamesTheEnginesDependencyJarsAndNothingOfPekko() throws Exception {
        List<String> names = PackageEngineCommand.runtimeJarNames();
        assertTrue(names.stream().anyMatch(n -> n.matches("loraplex-kernels-.+\\.jar")), names.toString());
        assertTrue(names.stream().anyMatch(n -> n.matches("loraplex-cluster-.+\\.jar")), names.toString());
        assertTrue(names.stream().anyMatch(n -> n.matches("jackson-databind-.+\\.jar")), names.toString());
        assertTrue(names.stream().anyMatch(n -> n.matches("jinjava-.+\\.jar")), names.toString());
        assertFalse(names.stream().anyMatch(n -> n.contains("pekko") || n.contains("kryo")), names.toString());
        assertFalse(names.stream().anyMatch(n -> n.contains("junit")), "test scope stays out: " + names);
    }

    @Test
    void anOutDirectoryThatIsNotEmptyIsRefusedWithExitTwo(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("keep.txt"), "mine");
        Result r = run("--out", dir.toString());
        assertEquals(2, r.exit(), r.err());
        assertEquals("loraplex package-engine: --out " + dir.toAbsolutePath() + " already exists and is not an empty directory", r.err().strip());
        assertEquals("mine", Files.readString(dir.resolve("keep.txt")), "nothing of the directory is touched");
    }

    @Test
    void runningWhereTheEngineIsNotAJarIsRefusedPointingAtTheDistribution(@TempDir Path dir) {
        // under the build, the engine's classes are target/classes, as in any run outside the distribution
        Result r = run("--out", dir.resolve("pkg").toString());
        assertEquals(1, r.exit(), r.err());
        assertEquals("loraplex: package-engine runs from the packaged distribution (bin/loraplex): the engine's classes "
                + "are not in a jar here", r.err().strip());
        assertFalse(Files.exists(dir.resolve("pkg")), "nothing is written before the jars are found");
    }

    @Test
    void aPackageOverTheLimitIsRefusedNamingItsSizeAndTheLimit(@TempDir Path dir) throws Exception {
        Files.write(dir.resolve("big"), new byte[2 * 1024 * 1024 + 100_000]);
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> PackageEngineCommand.requireUnder(dir, 1024 * 1024));
        assertEquals("the engine package " + dir + " is 2.1 MiB, over the 1 MiB limit", e.getMessage());
        assertEquals(2 * 1024 * 1024 + 100_000, PackageEngineCommand.requireUnder(dir, 3 * 1024 * 1024));
    }

    @Test
    void theScriptRunsThePackagedJavaOnlyWithTheVectorModule() {
        String script = PackageEngineCommand.script();
        assertTrue(script.contains("exec \"$ENGINE_HOME/runtime/bin/java\""), script);
        assertTrue(script.contains("--add-modules jdk.incubator.vector"), script);
        assertTrue(script.contains("io.loraplex.engine.cli.EngineMain"), script);
        assertFalse(script.contains("JAVA_HOME"), "never another Java: " + script);
        assertTrue(PackageEngineCommand.MODULES.contains("jdk.incubator.vector"));
    }

    @Test
    void theJcudaNativesJarLosesOnlyThePtxCompilerAndNvrtcWhichTheEngineNeverLoads(@TempDir Path dir) throws Exception {
        Path jar = dir.resolve("jcuda-natives-12.6.0-linux-x86_64.jar");
        List<String> names = List.of("META-INF/MANIFEST.MF", "lib/libJCudaDriver-12.6.0-linux-x86_64.so",
                "lib/libJNvPTXCompiler-12.6.0-linux-x86_64.so", "lib/libJNvrtc-12.6.0-linux-x86_64.so",
                "lib/libJCudaRuntime-12.6.0-linux-x86_64.so");
        try (var out = new java.util.zip.ZipOutputStream(Files.newOutputStream(jar))) {
            for (String name : names) {
                out.putNextEntry(new java.util.zip.ZipEntry(name));
                out.write(name.getBytes(StandardCharsets.UTF_8));
                out.closeEntry();
            }
        }
        Files.createDirectories(dir.resolve("lib"));
        Path copied = dir.resolve("lib").resolve(jar.getFileName());
        PackageEngineCommand.copyJar(jar, copied);
        List<String> kept = new java.util.ArrayList<>();
        try (var zip = new java.util.zip.ZipFile(copied.toFile())) {
            zip.stream().forEach(e -> kept.add(e.getName()));
            assertEquals("lib/libJCudaDriver-12.6.0-linux-x86_64.so", new String(zip.getInputStream(
                    zip.getEntry("lib/libJCudaDriver-12.6.0-linux-x86_64.so")).readAllBytes(), StandardCharsets.UTF_8));
        }
        assertEquals(List.of("META-INF/MANIFEST.MF", "lib/libJCudaDriver-12.6.0-linux-x86_64.so",
                "lib/libJCudaRuntime-12.6.0-linux-x86_64.so"), kept);
        // any other jar is copied as it is
        Path other = dir.resolve("guava-33.jar");
        Files.copy(jar, other);
        PackageEngineCommand.copyJar(other, dir.resolve("lib").resolve("guava-33.jar"));
        assertEquals(Files.size(other), Files.size(dir.resolve("lib").resolve("guava-33.jar")));
    }
}
