package io.loraplex.engine.lora;

import io.loraplex.engine.model.Architecture;
import io.loraplex.engine.model.ModelConfig;
import java.util.List;

/**
 * A linear module of the base model as its checkpoint and PEFT name it: one {@link TargetModule},
 * or a fused module that feeds several (Phi-3's {@code qkv_proj} holds q, k and v stacked by rows,
 * {@code gate_up_proj} gate then up). The engine splits fused modules at load: a fused adapter's
 * {@code lora_B} is split by the same rows and its {@code lora_A} shared by the parts, which is
 * exactly the fused delta {@code scale·(x·Aᵀ)·Bᵀ} cut into its row blocks.
 *
 * @param parts the engine's projections this module feeds, in row order
 */
public record PeftModule(String block, String shortName, List<TargetModule> parts) {

    public static final PeftModule QKV_PROJ = new PeftModule("self_attn", "qkv_proj",
            List.of(TargetModule.Q_PROJ, TargetModule.K_PROJ, TargetModule.V_PROJ));
    public static final PeftModule GATE_UP_PROJ = new PeftModule("mlp", "gate_up_proj",
            List.of(TargetModule.GATE_PROJ, TargetModule.UP_PROJ));

    public PeftModule {
        parts = List.copyOf(parts);
    }

    private static PeftModule single(TargetModule m) {
        String path = m.path();
        return new PeftModule(path.substring(0, path.indexOf('.')), m.shortName(), List.of(m));
    }

    /** The adaptable modules of an architecture's checkpoint, in layer order. */
    public static List<PeftModule> of(Architecture arch) {
        if (arch == Architecture.PHI3) {
            return List.of(QKV_PROJ, single(TargetModule.O_PROJ), GATE_UP_PROJ, single(TargetModule.DOWN_PROJ));
        }
        return java.util.Arrays.stream(TargetModule.values()).map(PeftModule::single).toList();
    }

    /** The module of {@code arch} named {@code block.shortName}, or null when it has none. */
    public static PeftModule find(Architecture arch, String block, String shortName) {
        for (PeftModule m : of(arch)) {
            if (m.block.equals(block) && m.shortName.equals(shortName)) {
                return m;
            }
        }
        return null;
    }

    public boolean fused() {
        return parts.size() > 1;
    }

    /** "model.layers.3.self_attn.qkv_proj", as PEFT matches patterns against it. */
    public String moduleName(int layer) {
        return "model.layers." + layer + "." + block + "." + shortName;
    }

    public int inFeatures(ModelConfig c) {
        return parts.getFirst().inFeatures(c);
    }

    /** The rows of the (fused) weight: the parts' outputs stacked. */
    public int outFeatures(ModelConfig c) {
        return parts.stream().mapToInt(p -> p.outFeatures(c)).sum();
    }

    /** The first row of {@code part} in the fused weight. */
    public int rowOffset(ModelConfig c, TargetModule part) {
        int offset = 0;
        for (TargetModule p : parts) {
            if (p == part) {
                return offset;
            }
            offset += p.outFeatures(c);
        }
        throw new IllegalArgumentException(part + " is not part of " + shortName);
    }
}
