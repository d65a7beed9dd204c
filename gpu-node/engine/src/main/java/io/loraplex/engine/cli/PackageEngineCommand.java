package io.loraplex.engine.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.spi.ToolProvider;
import java.util.stream.Stream;

/**
 * {@code loraplex package-engine --out DIR}: the engine alone, ready for a machine without Java (the
 * GPU machines): a jlinked runtime of the JDK that runs this command, the engine's jars and
 * {@code bin/loraplex-engine}. Nothing of the cluster's Pekko side goes in; the directory must stay
 * under {@link #MAX_BYTES}, since it is carried with the working tree to a lent device.
 *
 * <pre>
 *   DIR/bin/loraplex-engine   the launcher: runtime/bin/java -cp 'lib/*' io.loraplex.engine.cli.EngineMain
 *   DIR/lib/*.jar             the engine's jar and its runtime dependencies (engine-runtime.txt)
 *   DIR/runtime/              java.base and the few modules the engine uses, no debug data
 * </pre>
 */
final class PackageEngineCommand {

    /** The issue's limit: the package travels with the working tree (64 MiB in all) to the device. */
    static final long MAX_BYTES = 60L * 1024 * 1024;

    /**
     * The runtime's modules. jdeps on the engine's jars also names java.desktop (java.beans for jinjava's bean
     * resolver), java.instrument, jdk.attach and jdk.jdi (javassist's hot-swapper) and java.management; none is
     * used by the engine's commands, and java.desktop alone would take the package over 60 MiB (its classes and
     * AWT libraries, which jlink cannot split off). PackagedEngineIT runs the commands on this runtime.
     */
    static final List<String> MODULES = List.of("java.base", "java.logging", "java.sql", "jdk.unsupported",
            "jdk.incubator.vector");

    /** Written by the build (maven-dependency-plugin's list goal): one runtime artifact per line. */
    static final String RUNTIME_LIST = "engine-runtime.txt";

    private PackageEngineCommand() {
    }

    static Flags flags() {
        return new Flags("package-engine", "--out DIR")
                .option("out", null, "directory to create (must not exist, or be empty)");
    }

    static int run(Flags f, PrintStream out, PrintStream err) throws Exception {
        Path dir = Path.of(f.required("out")).toAbsolutePath();
        if (Files.exists(dir) && (!Files.isDirectory(dir) || !isEmpty(dir))) {
            throw f.bad("--out " + dir + " already exists and is not an empty directory");
        }
        List<Path> jars = engineJars();
        ToolProvider jlink = ToolProvider.findFirst("jlink").orElseThrow(() -> new IllegalStateException(
                "package-engine needs a JDK with jlink; this Java (" + System.getProperty("java.home") + ") has none"));
        Files.createDirectories(dir.resolve("lib"));
        Files.createDirectories(dir.resolve("bin"));
        for (Path jar : jars) {
            copyJar(jar, dir.resolve("lib").resolve(jar.getFileName()));
        }
        StringWriter jlinkOut = new StringWriter();
        int rc = jlink.run(new PrintWriter(jlinkOut), new PrintWriter(jlinkOut),
                "--add-modules", String.join(",", MODULES),
                "--strip-debug", "--no-header-files", "--no-man-pages", "--compress", "zip-6",
                "--output", dir.resolve("runtime").toString());
        if (rc != 0) {
            throw new IllegalStateException("jlink failed (exit " + rc + "): " + jlinkOut.toString().strip());
        }
        Path script = dir.resolve("bin").resolve("loraplex-engine");
        Files.writeString(script, script());
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwxr-xr-x"));
        stripJvm(dir.resolve("runtime"), err);
        long bytes = requireUnder(dir, MAX_BYTES);
        out.printf(java.util.Locale.ROOT, "wrote %s: %d jars, runtime of %s; %.1f MiB (limit %d MiB)%n", dir, jars.size(),
                String.join(",", MODULES), bytes / 1048576.0, MAX_BYTES / 1048576);
        return 0;
    }

    /**
     * JNI libraries of jcuda-natives the engine never loads: the PTX compiler (24 MiB of the jar's 26;
     * the kernels ship as prebuilt fatbins, loaded by the driver API) and NVRTC. Dropping them keeps the
     * package under {@link #MAX_BYTES} now that JCuda is on the engine's class path.
     */
    static final List<String> UNUSED_NATIVES = List.of("lib/libJNvPTXCompiler-", "lib/libJNvrtc-");

    /** Copies {@code jar}; the jcuda-natives jar without {@link #UNUSED_NATIVES}. */
    static void copyJar(Path jar, Path target) throws IOException {
        if (!jar.getFileName().toString().startsWith("jcuda-natives-")) {
            Files.copy(jar, target);
            return;
        }
        try (java.util.zip.ZipInputStream in = new java.util.zip.ZipInputStream(Files.newInputStream(jar));
                java.util.zip.ZipOutputStream out = new java.util.zip.ZipOutputStream(Files.newOutputStream(target))) {
            for (java.util.zip.ZipEntry e; (e = in.getNextEntry()) != null; ) {
                String name = e.getName();
                if (UNUSED_NATIVES.stream().anyMatch(name::startsWith)) {
                    continue;
                }
                out.putNextEntry(new java.util.zip.ZipEntry(name));
                in.transferTo(out);
                out.closeEntry();
            }
        }
    }

    /**
     * Drops libjvm.so's symbol table (about 5 MiB of its 29), which jlink's own strip plugin keeps: the
     * JVM does not need it to run. Only when binutils' {@code strip} is installed; without it the package
     * is larger but complete.
     */
    private static void stripJvm(Path runtime, PrintStream err) throws IOException, InterruptedException {
        Path libjvm = runtime.resolve("lib/server/libjvm.so");
        Path strip = Path.of("/usr/bin/strip");
        if (!Files.isRegularFile(libjvm) || !Files.isExecutable(strip)) {
            err.println("package-engine: no /usr/bin/strip here, so libjvm.so keeps its symbol table");
            return;
        }
        Process p = new ProcessBuilder(strip.toString(), "--strip-unneeded", libjvm.toString()).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        if (p.waitFor() != 0) {
            throw new IllegalStateException("strip --strip-unneeded " + libjvm + " failed: " + output);
        }
    }

    /** The bytes of every file under {@code dir}, or a refusal naming the size when it is over {@code max}. */
    static long requireUnder(Path dir, long max) throws IOException {
        long bytes = size(dir);
        if (bytes > max) {
            throw new IllegalStateException(String.format(java.util.Locale.ROOT,
                    "the engine package %s is %.1f MiB, over the %d MiB limit", dir, bytes / 1048576.0, max / 1048576));
        }
        return bytes;
    }

    /** The launcher script: the packaged runtime only, so no other Java on the machine is needed or used. */
    static String script() {
        return """
                #!/bin/sh
                # The loraplex engine on its own packaged Java runtime (loraplex package-engine): the engine's commands
                # (tiny-model, generate, logits, train, bench) without the cluster. LORAPLEX_JAVA_OPTS adds JVM flags.
                set -eu
                ENGINE_HOME=$(cd "$(dirname "$0")/.." && pwd)
                exec "$ENGINE_HOME/runtime/bin/java" \\
                  --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC \\
                  ${LORAPLEX_JAVA_OPTS:-} \\
                  -cp "$ENGINE_HOME/lib/*" io.loraplex.engine.cli.EngineMain "$@"
                """;
    }

    /**
     * The engine's jar and the jars of its runtime artifacts, found on this JVM's class path by file name
     * ({@code artifactId-version[-classifier].jar}, as Maven names them in the distribution's lib).
     */
    static List<Path> engineJars() throws IOException {
        Path engine = codeSource();
        if (!Files.isRegularFile(engine) || !engine.toString().endsWith(".jar")) {
            throw new IllegalStateException("package-engine runs from the packaged distribution (bin/loraplex): the engine's "
                    + "classes are not in a jar here");
        }
        Map<String, Path> onClassPath = new LinkedHashMap<>();
        for (String entry : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
            Path p = Path.of(entry);
            if (entry.endsWith("*")) {
                try (Stream<Path> files = Files.list(p.getParent())) {
                    files.filter(j -> j.toString().endsWith(".jar")).forEach(j -> onClassPath.putIfAbsent(j.getFileName().toString(), j));
                }
            } else if (entry.endsWith(".jar")) {
                onClassPath.putIfAbsent(p.getFileName().toString(), p);
            }
        }
        List<Path> jars = new ArrayList<>();
        jars.add(engine);
        List<String> missing = new ArrayList<>();
        for (String name : runtimeJarNames()) {
            Path jar = onClassPath.get(name);
            if (jar == null) {
                missing.add(name);
            } else {
                jars.add(jar);
            }
        }
        if (!missing.isEmpty()) {
            throw new IllegalStateException("the engine needs " + missing + ", not on this class path; run package-engine "
                    + "from the distribution built with the engine (bin/loraplex)");
        }
        return jars;
    }

    /** File names of the runtime artifacts in {@link #RUNTIME_LIST}: lines {@code group:artifact:type[:classifier]:version:scope…}. */
    static List<String> runtimeJarNames() throws IOException {
        List<String> names = new ArrayList<>();
        try (InputStream in = PackageEngineCommand.class.getResourceAsStream(RUNTIME_LIST)) {
            if (in == null) {
                throw new IllegalStateException(RUNTIME_LIST + " is missing from the engine's jar; it is written by the build");
            }
            BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            for (String line; (line = reader.readLine()) != null; ) {
                String coordinates = line.strip().split(" ")[0];
                String[] p = coordinates.split(":");
                if (p.length < 5) {
                    continue; // the header line and blank lines
                }
                String artifact = p[1];
                String type = p[2];
                String classifier = p.length >= 6 ? p[3] : null;
                String version = p.length >= 6 ? p[4] : p[3];
                names.add(artifact + "-" + version + (classifier == null ? "" : "-" + classifier) + "." + type);
            }
        }
        return names;
    }

    private static Path codeSource() {
        try {
            return Path.of(PackageEngineCommand.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException("the engine's own location is not a file: " + e.getMessage(), e);
        }
    }

    private static boolean isEmpty(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.findAny().isEmpty();
        }
    }

    /** Bytes of every regular file under {@code dir}. */
    static long size(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(Files::isRegularFile).mapToLong(p -> {
                try {
                    return Files.size(p);
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }).sum();
        }
    }
}
