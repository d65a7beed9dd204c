package io.loraplex.engine.batch;

import io.loraplex.engine.model.WeightFormat;

/** The 200-mix batch invariance suite on int4 weights, quantized at load. */
class EngineBatchInvarianceInt4Test extends EngineBatchInvarianceTest {

    @Override
    WeightFormat weights() {
        return WeightFormat.INT4;
    }
}
