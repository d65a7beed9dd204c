package io.loraplex.cluster.placement;

import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.RemoteMessage;
import io.loraplex.cluster.node.GpuNodeProtocol;
import java.util.Objects;
import java.util.Set;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;

/**
 * How work that is not a chat asks for a GPU node. There is one node-choice policy, owned by
 * {@code router/placement}: it knows every node's base model and identity, readiness, drain state
 * and load. Chat placement calls it in-process; the {@code Adapter} and {@code FineTune} entities
 * (whose shards run on router nodes) ask it through this protocol, registered under
 * {@link #SERVICE_KEY} by every router.
 */
public final class PlacementProtocol {

    /** Every router's placement registers under this key with the receptionist. */
    public static final ServiceKey<Command> SERVICE_KEY = ServiceKey.create(Command.class, "loraplex-placement");

    private PlacementProtocol() {
    }

    public sealed interface Command extends RemoteMessage permits ChooseNode {
    }

    /** What the node is wanted for; neither is counted as a generation's load. */
    public enum Work {
        /** Checking an adapter version against the node's base. */
        VALIDATION,
        /** Training an adapter on the node's base (a long, low-priority job). */
        TRAINING
    }

    /**
     * Asks for a ready, not draining node serving {@code baseModel}.
     *
     * @param baseModel the base model id the work is for (as nodes report it and clients name it);
     *                  null: the fleet's only base model, refused with {@link NoNodeReason#BASE_MODEL_REQUIRED}
     *                  when it serves several
     * @param adapter   the adapter version being validated (its content hash steers the choice to its
     *                  rendezvous home, where it is then likely served), or null
     * @param avoid     nodes to choose only when no other is ready (a retry after a node lost the attempt)
     */
    public record ChooseNode(Work work, String baseModel, AdapterRef adapter, Set<NodeId> avoid, ActorRef<NodeChoice> replyTo)
            implements Command {
        public ChooseNode {
            Objects.requireNonNull(work, "work");
            Objects.requireNonNull(replyTo, "replyTo");
            avoid = avoid == null ? Set.of() : Set.copyOf(avoid);
        }
    }

    /** The answer to {@link ChooseNode}. */
    public sealed interface NodeChoice extends RemoteMessage permits Chosen, NoNode {
    }

    /** The node to use, with the base it serves (the identity an adapter validated there records). */
    public record Chosen(NodeId node, ActorRef<GpuNodeProtocol.Command> ref, String baseModel, String baseIdentity)
            implements NodeChoice {
        public Chosen {
            Objects.requireNonNull(node, "node");
            Objects.requireNonNull(ref, "ref");
        }
    }

    /** Why no node was chosen. */
    public enum NoNodeReason {
        /** The base model is known but no node serving it is ready now (down, draining, not answering): retry later. */
        NO_READY_NODE,
        /** No node serves or has served this base model, and none is configured. */
        UNKNOWN_BASE_MODEL,
        /** The fleet serves several base models and the work named none. */
        BASE_MODEL_REQUIRED
    }

    /** No node: {@code message} says why, naming the base model and the ones the fleet serves. */
    public record NoNode(NoNodeReason reason, String message) implements NodeChoice {
        public NoNode {
            Objects.requireNonNull(reason, "reason");
            Objects.requireNonNull(message, "message");
        }
    }
}
