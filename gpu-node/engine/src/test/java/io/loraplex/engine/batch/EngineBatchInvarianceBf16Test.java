package io.loraplex.engine.batch;

import io.loraplex.engine.model.DType;

/** The 200-mix batch invariance suite on a bf16 checkpoint, its projections read at their own size. */
class EngineBatchInvarianceBf16Test extends EngineBatchInvarianceTest {

    @Override
    DType checkpointDtype() {
        return DType.BF16;
    }
}
