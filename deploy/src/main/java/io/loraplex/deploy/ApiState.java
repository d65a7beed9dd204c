package io.loraplex.deploy;

import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Extension;
import org.apache.pekko.actor.typed.ExtensionId;

/** Whether this JVM's HTTP API is open: a router reads not ready ({@code /ready}) until it binds its port. */
public final class ApiState implements Extension {

    private static final ExtensionId<ApiState> ID = new ExtensionId<>() {
        @Override
        public ApiState createExtension(ActorSystem<?> system) {
            return new ApiState();
        }
    };

    private final AtomicBoolean open = new AtomicBoolean();

    public static ApiState get(ActorSystem<?> system) {
        return ID.apply(system);
    }

    public boolean open() {
        return open.get();
    }

    void opened() {
        open.set(true);
    }
}
