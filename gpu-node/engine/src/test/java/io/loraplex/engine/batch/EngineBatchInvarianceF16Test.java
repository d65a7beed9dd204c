package io.loraplex.engine.batch;

import io.loraplex.engine.model.DType;

/** The 200-mix batch invariance suite on a f16 checkpoint, its projections read at their own size. */
class EngineBatchInvarianceF16Test extends EngineBatchInvarianceTest {

    @Override
    DType checkpointDtype() {
        return DType.F16;
    }
}
