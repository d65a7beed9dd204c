package io.loraplex.cluster;

/** A GPU node of the cluster, named by its cluster address or a configured name. */
public record NodeId(String value) {

    public NodeId {
        if (value == null || value.isBlank()) {
            throw new IllegalArgumentException("a node id must not be blank");
        }
    }

    @Override
    public String toString() {
        return value;
    }
}
