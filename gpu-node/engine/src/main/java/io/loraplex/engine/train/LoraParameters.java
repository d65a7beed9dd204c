package io.loraplex.engine.train;

import io.loraplex.engine.lora.LoraWeights;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.ModelConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * The trainable LoRA matrices of one adapter in float64, with their gradients and AdamW moments.
 * Initialised as PEFT does: A kaiming-uniform with {@code a = √5} (uniform in ±1/√in), B zero, so a
 * fresh adapter leaves the base unchanged.
 */
final class LoraParameters {

    /** One adapted projection. */
    static final class Module {
        final int layer;
        final TargetModule target;
        final int in, out, rank;
        final double scale;
        final double[] a, b;          // (R, in), (out, R)
        final double[] gradA, gradB;  // as a, b
        final double[] m1A, m2A, m1B, m2B; // AdamW first and second moments, as a, b

        Module(int layer, TargetModule target, int in, int out, int rank, double scale) {
            this.layer = layer;
            this.target = target;
            this.in = in;
            this.out = out;
            this.rank = rank;
            this.scale = scale;
            a = new double[rank * in];
            b = new double[out * rank];
            gradA = new double[a.length];
            gradB = new double[b.length];
            m1A = new double[a.length];
            m2A = new double[a.length];
            m1B = new double[b.length];
            m2B = new double[b.length];
        }
    }

    private final Module[][] modules; // (L, TargetModule.COUNT), null where not adapted
    private final List<Module> all = new ArrayList<>();

    /**
     * @param scale alpha/r, or alpha/√r with rsLoRA
     */
    LoraParameters(ModelConfig cfg, Set<TargetModule> targets, int rank, double scale, long seed) {
        if (targets.isEmpty()) {
            throw new IllegalArgumentException("no target modules");
        }
        SplittableRandom random = new SplittableRandom(seed);
        modules = new Module[cfg.numLayers()][TargetModule.COUNT];
        for (int l = 0; l < cfg.numLayers(); l++) {
            for (TargetModule t : TargetModule.values()) {
                if (!targets.contains(t)) {
                    continue;
                }
                Module m = new Module(l, t, t.inFeatures(cfg), t.outFeatures(cfg), rank, scale);
                double bound = 1.0 / Math.sqrt(m.in); // kaiming_uniform_(a=√5): gain √(2/6), bound gain·√3/√fan_in
                for (int i = 0; i < m.a.length; i++) {
                    m.a[i] = (2 * random.nextDouble() - 1) * bound;
                }
                modules[l][t.ordinal()] = m;
                all.add(m);
            }
        }
    }

    /** The module of a layer and projection, or null when not adapted. */
    Module module(int layer, TargetModule target) {
        return modules[layer][target.ordinal()];
    }

    List<Module> all() {
        return all;
    }

    void zeroGrad() {
        for (Module m : all) {
            java.util.Arrays.fill(m.gradA, 0);
            java.util.Arrays.fill(m.gradB, 0);
        }
    }

    long parameterCount() {
        long n = 0;
        for (Module m : all) {
            n += m.a.length + m.b.length;
        }
        return n;
    }

    /** The weights as the engine applies them, narrowed to float. */
    LoraWeights[][] toWeights() {
        LoraWeights[][] out = new LoraWeights[modules.length][TargetModule.COUNT];
        for (Module m : all) {
            out[m.layer][m.target.ordinal()] = new LoraWeights(m.rank, m.in, m.out, (float) m.scale, narrow(m.a), narrow(m.b));
        }
        return out;
    }

    private static float[] narrow(double[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            f[i] = (float) v[i];
        }
        return f;
    }
}
