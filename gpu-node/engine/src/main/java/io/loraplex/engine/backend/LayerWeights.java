package io.loraplex.engine.backend;

import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.ModelWeights;
import io.loraplex.engine.model.Tensor;

/** A layer's projection weights by module, for the backends' {@code project} operation. */
public final class LayerWeights {

    private LayerWeights() {
    }

    /** The module's weight in {@code layer}, (out, in). */
    static Tensor weight(ModelWeights w, int layer, TargetModule module) {
        return switch (module) {
            case Q_PROJ -> w.wq(layer);
            case K_PROJ -> w.wk(layer);
            case V_PROJ -> w.wv(layer);
            case O_PROJ -> w.wo(layer);
            case GATE_PROJ -> w.wGate(layer);
            case UP_PROJ -> w.wUp(layer);
            case DOWN_PROJ -> w.wDown(layer);
        };
    }

    /** The module's bias in {@code layer}, (out), or null where the model has none. */
    public static Tensor bias(ModelWeights w, int layer, TargetModule module) {
        return switch (module) {
            case Q_PROJ -> w.bq[layer];
            case K_PROJ -> w.bk[layer];
            case V_PROJ -> w.bv[layer];
            case O_PROJ -> w.bo[layer];
            case GATE_PROJ -> w.bGate[layer];
            case UP_PROJ -> w.bUp[layer];
            case DOWN_PROJ -> w.bDown[layer];
        };
    }
}
