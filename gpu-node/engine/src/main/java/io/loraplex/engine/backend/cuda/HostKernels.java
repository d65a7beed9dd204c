package io.loraplex.engine.backend.cuda;

import static java.util.Map.entry;

import io.loraplex.kernels.KernelSignature;
import io.loraplex.kernels.Kernels;
import java.util.Map;
import java.util.Set;

/**
 * Every kernel of {@link Kernels#ALL} on the host, by entry point: the reference the device script
 * compares each GPU kernel with, and what {@link HostDevice} runs. One class per kernel family.
 */
public final class HostKernels {

    private static final Map<String, HostKernel> KERNELS = Map.ofEntries(
            entry(Kernels.EMBEDDING_GATHER.entryPoint(), HostElementwise::embeddingGather),
            entry(Kernels.RMSNORM.entryPoint(), HostNorms::rmsnorm),
            entry(Kernels.RMSNORM_ROWS.entryPoint(), HostNorms::rmsnormRows),
            entry(Kernels.ROPE.entryPoint(), HostRope::rope),
            entry(Kernels.SWIGLU.entryPoint(), HostElementwise::swiglu),
            entry(Kernels.LORA_SHRINK_GATHERED.entryPoint(), HostLora::shrinkGathered),
            entry(Kernels.LORA_SHRINK_SEGMENTED.entryPoint(), HostLora::shrinkSegmented),
            entry(Kernels.LORA_EXPAND_GATHERED.entryPoint(), HostLora::expandGathered),
            entry(Kernels.LORA_EXPAND_SEGMENTED.entryPoint(), HostLora::expandSegmented),
            entry(Kernels.PAGED_ATTENTION_DECODE.entryPoint(), HostAttention::decode),
            entry(Kernels.PAGED_ATTENTION_PREFILL.entryPoint(), HostAttention::prefill),
            entry(Kernels.KV_STORE.entryPoint(), HostAttention::kvStore),
            entry(Kernels.ADD.entryPoint(), HostElementwise::add),
            entry(Kernels.ADD_BIAS.entryPoint(), HostElementwise::addBias),
            entry(Kernels.LOGITS_ARGMAX.entryPoint(), HostLogits::logitsArgmax));

    private HostKernels() {
    }

    public static HostKernel of(KernelSignature kernel) {
        HostKernel k = KERNELS.get(kernel.entryPoint());
        if (k == null) {
            throw new IllegalArgumentException("no host version of " + kernel.entryPoint());
        }
        return k;
    }

    /** The entry points that have a host version. */
    public static Set<String> entryPoints() {
        return KERNELS.keySet();
    }
}
