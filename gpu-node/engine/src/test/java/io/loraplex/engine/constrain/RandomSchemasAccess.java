package io.loraplex.engine.constrain;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.SplittableRandom;

/** {@link RandomSchemas} for tests in other packages: strict schemas without free strings (a random model ends those rarely). */
public final class RandomSchemasAccess {

    private RandomSchemasAccess() {
    }

    public static ObjectNode schema(SplittableRandom random) {
        return RandomSchemas.schema(random, true, false);
    }
}
