package io.loraplex.engine.backend.cuda;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.ValueLayout;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Checks the hand-written parts of the CUDA binding against NVIDIA's C headers: {@link Cublas}'s
 * downcall descriptors and enum values against {@code cublas_api.h} and {@code library_types.h}, and
 * the driver constants {@link CudaDevice} takes from JCuda (built for CUDA 12.6) against the
 * {@code cuda.h} of the CUDA it runs on. A plain method returning the problems, so a test here and the
 * device script on the GPU machine ({@code java ... CudaHeaderCheck [include dirs]}) run the same check.
 *
 * <p>Not a C parser: it reads the shapes these headers use ({@code CUBLASAPI ret CUBLASWINAPI name(...);}
 * prototypes, {@code NAME = value} enumerators, {@code #define NAME value}) and reports anything it cannot
 * read as a problem rather than passing over it.
 */
public final class CudaHeaderCheck {

    /** The driver constants {@link CudaDevice} passes, as JCuda defines them, by their {@code cuda.h} names. */
    static final Map<String, Integer> DRIVER_CONSTANTS = driverConstants();

    private static final Pattern PROTOTYPE = Pattern.compile(
            "CUBLASAPI\\s+([\\w\\s*]+?)\\s*CUBLASWINAPI\\s+(\\w+)\\s*\\(([^)]*)\\)\\s*;");
    private static final Pattern ENUMERATOR = Pattern.compile(
            "(?m)(?:^|[{,])\\s*([A-Za-z_]\\w*)\\s*=\\s*(-?(?:0[xX][0-9a-fA-F]+|\\d+))[uUlL]*\\s*(?=[,}]|$)");
    private static final Pattern DEFINE = Pattern.compile(
            "(?m)^\\s*#\\s*define\\s+([A-Za-z_]\\w*)\\s+\\(?\\s*(-?(?:0[xX][0-9a-fA-F]+|\\d+))[uUlL]*\\s*\\)?\\s*$");
    private static final Pattern ENUM_TYPEDEF = Pattern.compile(
            "typedef\\s+enum\\s+(\\w+)\\s+(\\w+)\\s*;|typedef\\s+enum\\s*(\\w*)\\s*\\{[^}]*}\\s*(\\w+)\\s*;");
    private static final Pattern POINTER_TYPEDEF = Pattern.compile("typedef\\s+struct\\s+\\w+\\s*\\*\\s*(\\w+)\\s*;");

    private CudaHeaderCheck() {
    }

    private static Map<String, Integer> driverConstants() {
        Map<String, Integer> m = new LinkedHashMap<>();
        m.put("CUDA_SUCCESS", jcuda.driver.CUresult.CUDA_SUCCESS);
        m.put("CU_STREAM_NON_BLOCKING", jcuda.driver.CUstream_flags.CU_STREAM_NON_BLOCKING);
        m.put("CU_EVENT_DISABLE_TIMING", jcuda.driver.CUevent_flags.CU_EVENT_DISABLE_TIMING);
        m.put("CU_STREAM_CAPTURE_MODE_THREAD_LOCAL", jcuda.driver.CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
        m.put("CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR", jcuda.driver.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        m.put("CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR", jcuda.driver.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
        m.put("CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES",
                jcuda.driver.CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES);
        // a compile-time constant: reading it does not load JCuda's native library
        m.put("CU_MEMHOSTALLOC_PORTABLE", jcuda.driver.JCudaDriver.CU_MEMHOSTALLOC_PORTABLE);
        return Map.copyOf(m);
    }

    /** Include directories where the headers may be: the toolkit's, then pip's NVIDIA wheels'. */
    public static List<Path> includeDirs(Map<String, String> env) {
        Set<Path> dirs = new LinkedHashSet<>();
        for (String var : List.of("CUDA_HOME", "CUDA_PATH")) {
            if (env.get(var) != null && !env.get(var).isBlank()) {
                dirs.add(Path.of(env.get(var), "include"));
            }
        }
        dirs.add(Path.of("/usr/local/cuda/include"));
        // the wheels sit beside the libraries cuBLAS is looked for in: .../nvidia/cu13/lib -> .../nvidia/cu13/include
        for (Path lib : Cublas.searchDirs(env)) {
            if (lib.getFileName() != null && lib.getFileName().toString().equals("lib") && lib.getParent() != null) {
                dirs.add(lib.getParent().resolve("include"));
            }
        }
        try (DirectoryStream<Path> s = Files.newDirectoryStream(Path.of("/usr/local"), "cuda-13*")) {
            s.forEach(p -> dirs.add(p.resolve("include")));
        } catch (IOException e) {
            // no /usr/local: nothing there to check
        }
        return dirs.stream().filter(Files::isDirectory).toList();
    }

    /** The first {@code dirs}' {@code header}, if any has it. */
    public static Optional<Path> find(String header, List<Path> dirs) {
        return dirs.stream().map(d -> d.resolve(header)).filter(Files::isRegularFile).findFirst();
    }

    /**
     * Every {@link Cublas.Function} against its prototype in {@code cublasApiH} (symbol present, return and
     * parameter kinds equal to the descriptor's), and every {@link Cublas.Constant} against the header it
     * names ({@code cublas_api.h} or {@code library_types.h}). Empty when all agree.
     */
    public static List<String> cublas(Path cublasApiH, Path libraryTypesH) {
        String api = stripComments(read(cublasApiH));
        String types = stripComments(read(libraryTypesH));
        List<String> problems = new ArrayList<>();

        Set<String> enumTypes = new HashSet<>(enumTypeNames(api));
        enumTypes.addAll(enumTypeNames(types));
        Set<String> pointerTypes = new HashSet<>(pointerTypedefs(api));
        pointerTypes.add("cudaStream_t"); // driver_types.h: typedef struct CUstream_st *cudaStream_t
        Map<String, Prototype> prototypes = prototypes(api);
        for (Cublas.Function f : Cublas.Function.values()) {
            Prototype p = prototypes.get(f.symbol);
            if (p == null) {
                problems.add(cublasApiH + " declares no " + f.symbol);
                continue;
            }
            problems.addAll(compare(f.symbol, f.descriptor, p, enumTypes, pointerTypes));
        }

        Map<String, Set<Long>> apiValues = constants(api);
        Map<String, Set<Long>> typeValues = constants(types);
        for (Cublas.Constant c : Cublas.Constant.values()) {
            Map<String, Set<Long>> values = c.header.equals("library_types.h") ? typeValues : apiValues;
            problems.addAll(compareConstant(c.header, c.name(), c.value, values));
        }
        return problems;
    }

    /** JCuda's values of the driver constants {@link CudaDevice} uses against {@code cudaH}. */
    public static List<String> driver(Path cudaH) {
        Map<String, Set<Long>> values = constants(stripComments(read(cudaH)));
        List<String> problems = new ArrayList<>();
        DRIVER_CONSTANTS.forEach((name, value) -> problems.addAll(compareConstant("cuda.h", name, value, values)));
        return problems;
    }

    /** Runs both checks on the first include directory holding each header; exits 1 on any problem. */
    public static void main(String[] args) {
        List<Path> dirs = args.length > 0 ? java.util.Arrays.stream(args).map(Path::of).toList() : includeDirs(System.getenv());
        List<String> problems = new ArrayList<>();
        Optional<Path> cudaH = find("cuda.h", dirs);
        Optional<Path> api = find("cublas_api.h", dirs);
        Optional<Path> types = find("library_types.h", dirs);
        System.out.println("include dirs: " + dirs);
        cudaH.ifPresentOrElse(h -> problems.addAll(driver(h)), () -> problems.add("no cuda.h in " + dirs));
        if (api.isPresent() && types.isPresent()) {
            problems.addAll(cublas(api.get(), types.get()));
        } else {
            problems.add("no " + (api.isEmpty() ? "cublas_api.h" : "library_types.h") + " in " + dirs);
        }
        System.out.println("cuda.h: " + cudaH.map(Path::toString).orElse("-") + ", cublas_api.h: "
                + api.map(Path::toString).orElse("-") + ", library_types.h: " + types.map(Path::toString).orElse("-"));
        problems.forEach(p -> System.out.println("PROBLEM " + p));
        System.out.println(problems.isEmpty() ? "header check: OK" : "header check: " + problems.size() + " problem(s)");
        if (!problems.isEmpty()) {
            System.exit(1);
        }
    }

    /** One C prototype: the return type and each parameter's type (names dropped), as written. */
    record Prototype(String returnType, List<String> paramTypes) {
    }

    static Map<String, Prototype> prototypes(String header) {
        Map<String, Prototype> found = new LinkedHashMap<>();
        Matcher m = PROTOTYPE.matcher(header);
        while (m.find()) {
            List<String> params = new ArrayList<>();
            String list = m.group(3).strip();
            if (!list.isEmpty() && !list.equals("void")) {
                for (String param : list.split(",")) {
                    params.add(typeOf(param));
                }
            }
            found.putIfAbsent(m.group(2), new Prototype(normalise(m.group(1)), params));
        }
        return found;
    }

    static Map<String, Set<Long>> constants(String header) {
        Map<String, Set<Long>> values = new LinkedHashMap<>();
        for (Pattern p : List.of(ENUMERATOR, DEFINE)) {
            Matcher m = p.matcher(header);
            while (m.find()) {
                values.computeIfAbsent(m.group(1), k -> new TreeSet<>()).add(Long.decode(m.group(2)));
            }
        }
        return values;
    }

    private static List<String> compareConstant(String header, String name, long value, Map<String, Set<Long>> values) {
        Set<Long> inHeader = values.get(name);
        if (inHeader == null) {
            return List.of(header + " does not define " + name + " (the binding uses " + value + ")");
        }
        if (!inHeader.equals(Set.of(value))) {
            return List.of(name + " is " + value + " in the binding but " + inHeader + " in " + header);
        }
        return List.of();
    }

    private static List<String> compare(String symbol, FunctionDescriptor d, Prototype p,
                                        Set<String> enumTypes, Set<String> pointerTypes) {
        List<String> problems = new ArrayList<>();
        Class<?> ret = carrier(p.returnType(), enumTypes, pointerTypes);
        Class<?> want = d.returnLayout().map(CudaHeaderCheck::carrierOf).orElse(void.class);
        if (ret != want) {
            problems.add(symbol + " returns " + p.returnType() + " (" + name(ret) + ") but the descriptor returns " + name(want));
        }
        if (p.paramTypes().size() != d.argumentLayouts().size()) {
            problems.add(symbol + " takes " + p.paramTypes().size() + " parameters in the header, "
                    + d.argumentLayouts().size() + " in the descriptor");
            return problems;
        }
        for (int i = 0; i < p.paramTypes().size(); i++) {
            Class<?> c = carrier(p.paramTypes().get(i), enumTypes, pointerTypes);
            Class<?> w = carrierOf(d.argumentLayouts().get(i));
            if (c != w) {
                problems.add(symbol + " parameter " + i + " is " + p.paramTypes().get(i) + " (" + name(c)
                        + ") but the descriptor passes " + name(w));
            }
        }
        return problems;
    }

    /** The Java carrier the C ABI uses for {@code type} on x86-64 Linux; null when this check cannot tell. */
    static Class<?> carrier(String type, Set<String> enumTypes, Set<String> pointerTypes) {
        String t = type.replace("const ", "").replace("enum ", "").strip();
        if (t.contains("*") || pointerTypes.contains(t)) {
            return java.lang.foreign.MemorySegment.class;
        }
        if (t.equals("void")) {
            return void.class;
        }
        if (t.equals("int") || t.equals("unsigned int") || t.equals("int32_t") || enumTypes.contains(t)) {
            return int.class;
        }
        if (t.equals("size_t") || t.equals("int64_t") || t.equals("long long")) {
            return long.class;
        }
        if (t.equals("float")) {
            return float.class;
        }
        if (t.equals("double")) {
            return double.class;
        }
        return null;
    }

    private static Class<?> carrierOf(MemoryLayout layout) {
        return ((ValueLayout) layout).carrier();
    }

    private static String name(Class<?> c) {
        return c == null ? "a type this check does not know" : c.getSimpleName();
    }

    /** A parameter's type without its name: {@code const void* alpha} gives {@code const void*}. */
    static String typeOf(String param) {
        String p = normalise(param);
        Matcher m = Pattern.compile("^(.*?)\\s*\\b([A-Za-z_]\\w*)\\s*(\\[\\s*])?$").matcher(p);
        if (m.matches() && !m.group(1).isEmpty() && !m.group(1).equals("const") && !m.group(1).equals("unsigned")) {
            return normalise(m.group(1) + (m.group(3) != null ? "*" : ""));
        }
        return p; // an unnamed parameter: the whole text is its type
    }

    private static String normalise(String type) {
        return type.replaceAll("\\s*\\*\\s*", "* ").replaceAll("\\s+", " ").strip();
    }

    private static Set<String> enumTypeNames(String header) {
        Set<String> names = new HashSet<>();
        Matcher m = ENUM_TYPEDEF.matcher(header);
        while (m.find()) {
            for (int g = 1; g <= 4; g++) {
                if (m.group(g) != null && !m.group(g).isEmpty()) {
                    names.add(m.group(g));
                }
            }
        }
        return names;
    }

    private static Set<String> pointerTypedefs(String header) {
        Set<String> names = new HashSet<>();
        Matcher m = POINTER_TYPEDEF.matcher(header);
        while (m.find()) {
            names.add(m.group(1));
        }
        return names;
    }

    static String stripComments(String text) {
        return text.replaceAll("(?s)/\\*.*?\\*/", " ").replaceAll("//[^\n]*", "");
    }

    private static String read(Path file) {
        try {
            return Files.readString(file, java.nio.charset.StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }
}
