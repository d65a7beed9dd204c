package io.loraplex.persistence.journal;

import io.loraplex.persistence.CborSerializable;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.persistence.typed.PersistenceId;
import org.apache.pekko.persistence.typed.javadsl.CommandHandlerWithReply;
import org.apache.pekko.persistence.typed.javadsl.EventHandler;
import org.apache.pekko.persistence.typed.javadsl.EventSourcedBehaviorWithEnforcedReplies;
import org.apache.pekko.persistence.typed.javadsl.RetentionCriteria;

/**
 * A test-only event-sourced list of numbers, for what the journals themselves must do (survive a
 * SIGKILL, sustain a rate): {@link Add} journals one event and answers after it is written. Like the
 * real entities it snapshots now and then and deletes older snapshots, so the journal frees space
 * while it writes (where H2 lost acknowledged writes).
 */
final class Counter extends EventSourcedBehaviorWithEnforcedReplies<Counter.Command, Counter.Added, Counter.State> {

    sealed interface Command {
    }

    record Add(int value, ActorRef<Integer> replyTo) implements Command {
    }

    record Get(ActorRef<List<Integer>> replyTo) implements Command {
    }

    record Added(int value) implements CborSerializable {
    }

    record State(List<Integer> values) implements CborSerializable {
    }

    Counter(String id) {
        super(PersistenceId.of("Counter", id));
    }

    @Override
    public RetentionCriteria retentionCriteria() {
        return RetentionCriteria.snapshotEvery(20, 2);
    }

    @Override
    public State emptyState() {
        return new State(List.of());
    }

    @Override
    public CommandHandlerWithReply<Command, Added, State> commandHandler() {
        return (state, command) -> switch (command) {
            case Add add -> Effect().persist(new Added(add.value())).thenReply(add.replyTo(), s -> add.value());
            case Get get -> Effect().reply(get.replyTo(), state.values());
        };
    }

    @Override
    public EventHandler<State, Added> eventHandler() {
        return (state, event) -> {
            List<Integer> values = new ArrayList<>(state.values());
            values.add(event.value());
            return new State(values);
        };
    }
}
