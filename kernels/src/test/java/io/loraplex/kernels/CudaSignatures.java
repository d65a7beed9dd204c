package io.loraplex.kernels;

import io.loraplex.kernels.KernelSignature.Param;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Reads the {@code extern "C" __global__} entry points of a {@code .cu} source, for tests. */
final class CudaSignatures {

    private static final Pattern ENTRY = Pattern.compile(
            "extern\\s+\"C\"\\s+__global__\\s+void\\s+([A-Za-z_][A-Za-z0-9_]*)\\s*\\(([^)]*)\\)", Pattern.DOTALL);

    private CudaSignatures() {
    }

    /** Entry point name to its parameters, in source order; a type no {@link ParamType} spells fails naming it. */
    static Map<String, List<Param>> parse(String file, String source) {
        Map<String, List<Param>> entries = new LinkedHashMap<>();
        Matcher m = ENTRY.matcher(stripComments(source));
        while (m.find()) {
            String name = m.group(1);
            List<Param> params = new ArrayList<>();
            for (String raw : m.group(2).split(",")) {
                String decl = raw.replace("__restrict__", " ").replaceAll("\\s*\\*\\s*", "* ").strip()
                        .replaceAll("\\s+", " ");
                int split = decl.lastIndexOf(' ');
                if (split < 0) {
                    throw new IllegalArgumentException(file + ": " + name + " has a parameter without a name: '" + decl + "'");
                }
                String type = decl.substring(0, split).strip();
                ParamType t = ParamType.ofSpelling(type);
                if (t == null) {
                    throw new IllegalArgumentException(file + ": " + name + " parameter '" + decl.substring(split + 1)
                            + "' has type '" + type + "', which ParamType does not spell");
                }
                params.add(new Param(decl.substring(split + 1), t));
            }
            if (entries.put(name, params) != null) {
                throw new IllegalArgumentException(file + " defines " + name + " twice");
            }
        }
        return entries;
    }

    /** The differences between what Java declares for {@code image} and what its source defines; empty when none. */
    static List<String> differences(KernelImage image, List<KernelSignature> declared, Map<String, List<Param>> source) {
        List<String> problems = new ArrayList<>();
        for (KernelSignature k : declared) {
            List<Param> actual = source.get(k.entryPoint());
            if (actual == null) {
                problems.add(image.sourceFile() + " does not define " + k.entryPoint() + ", which Kernels declares");
                continue;
            }
            for (int i = 0; i < Math.max(actual.size(), k.params().size()); i++) {
                String want = i < k.params().size() ? k.params().get(i).toString() : "nothing";
                String have = i < actual.size() ? actual.get(i).toString() : "nothing";
                if (!want.equals(have)) {
                    problems.add(k.entryPoint() + " parameter " + i + ": Kernels declares '" + want + "', "
                            + image.sourceFile() + " has '" + have + "'");
                }
            }
        }
        for (String name : source.keySet()) {
            if (declared.stream().noneMatch(k -> k.entryPoint().equals(name))) {
                problems.add(image.sourceFile() + " defines " + name + ", which Kernels does not declare");
            }
        }
        return problems;
    }

    private static String stripComments(String s) {
        return s.replaceAll("(?s)/\\*.*?\\*/", " ").replaceAll("//[^\\n]*", " ");
    }
}
