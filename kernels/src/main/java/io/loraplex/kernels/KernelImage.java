package io.loraplex.kernels;

/**
 * One compiled kernel file: {@code src/main/cuda/<name>.cu}, built into the jar as
 * {@code io/loraplex/kernels/<name>.fatbin} (sm_80 and sm_90 code, compute_90 PTX) when the build
 * had nvcc.
 */
public enum KernelImage {
    EMBEDDING("embedding"),
    RMSNORM("rmsnorm"),
    ROPE("rope"),
    SWIGLU("swiglu"),
    LORA_SHRINK("lora_shrink"),
    LORA_EXPAND("lora_expand"),
    PAGED_ATTENTION("paged_attention"),
    KV_STORE("kv_store"),
    ADD("add"),
    LOGITS("logits");

    /** Where the fatbins sit in the jar. */
    public static final String RESOURCE_DIR = "io/loraplex/kernels/";

    private final String baseName;

    KernelImage(String baseName) {
        this.baseName = baseName;
    }

    /** The file name without extension, shared by the source and the fatbin. */
    public String baseName() {
        return baseName;
    }

    /** The CUDA source, relative to {@code kernels/src/main/cuda}. */
    public String sourceFile() {
        return baseName + ".cu";
    }

    public String fatbinFile() {
        return baseName + ".fatbin";
    }

    /** The class-path resource name of the fatbin. */
    public String resourceName() {
        return RESOURCE_DIR + fatbinFile();
    }
}
