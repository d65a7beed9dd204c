package io.loraplex.cluster;

/** The cluster roles a JVM may hold (the embedded default holds both). */
public final class Roles {

    /** HTTP API, tenants' shards, placement. */
    public static final String ROUTER = "router";
    /** One engine on one GPU (or the CPU). */
    public static final String GPU_NODE = "gpu-node";

    private Roles() {
    }
}
