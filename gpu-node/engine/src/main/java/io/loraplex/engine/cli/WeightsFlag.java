package io.loraplex.engine.cli;

import io.loraplex.engine.model.WeightFormat;
import java.util.ArrayList;
import java.util.List;

/** The {@code --weights} flag of the commands that load a model: the dtype its projections are computed in. */
final class WeightsFlag {

    static final String NAME = "weights";
    static final String HELP = "dtype of the base projections and lm head: f32, bf16, int8 or int4, converted at load "
            + "(default: the checkpoint's own)";

    private WeightsFlag() {
    }

    static Flags declare(Flags f) {
        return f.option(NAME, null, HELP);
    }

    /** The format asked for, or null for the checkpoint's own; an unknown name is refused listing the allowed ones. */
    static WeightFormat of(Flags f) {
        return f.has(NAME) ? parse(f, f.required(NAME)) : null;
    }

    /** bench's form: a comma-separated list, each measured in turn; none: the checkpoint's own (one null). */
    static List<WeightFormat> list(Flags f) {
        List<WeightFormat> formats = new ArrayList<>();
        if (!f.has(NAME)) {
            formats.add(null);
            return formats;
        }
        for (String name : f.required(NAME).split(",")) {
            formats.add(parse(f, name.trim()));
        }
        return formats;
    }

    private static WeightFormat parse(Flags f, String value) {
        try {
            return WeightFormat.parse(value);
        } catch (IllegalArgumentException e) {
            throw f.bad("--" + NAME + ": " + e.getMessage());
        }
    }
}
