package io.loraplex.engine.sample;

/**
 * A sampling parameter outside its {@link io.loraplex.cluster.node.SamplingLimits limit}. It carries the
 * parameter by its API name, so a caller reports it without reading the message.
 */
public final class SamplingParamException extends IllegalArgumentException {

    private final String param;

    public SamplingParamException(String param, String message) {
        super(message);
        this.param = java.util.Objects.requireNonNull(param, "param");
    }

    /** The parameter at fault by its API name ({@code temperature}, {@code logit_bias.42}, {@code stop[1]}). */
    public String param() {
        return param;
    }
}
