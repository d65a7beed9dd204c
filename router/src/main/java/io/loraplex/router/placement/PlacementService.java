package io.loraplex.router.placement;

import io.loraplex.cluster.placement.PlacementProtocol;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;

/**
 * Answers {@link PlacementProtocol} for this router: the {@code Adapter} and {@code FineTune}
 * entities ask it which GPU node validates or trains, and it answers from {@link Placement}'s
 * current view with {@link Placement#chooseFor}, so chat, validation and training share one policy.
 * It registers under {@link PlacementProtocol#SERVICE_KEY}; every router runs one.
 */
public final class PlacementService {

    private PlacementService() {
    }

    public static Behavior<PlacementProtocol.Command> create(Placement placement) {
        return Behaviors.setup(ctx -> {
            ctx.getSystem().receptionist().tell(Receptionist.register(PlacementProtocol.SERVICE_KEY, ctx.getSelf()));
            return Behaviors.receiveMessage(command -> switch (command) {
                case PlacementProtocol.ChooseNode c -> {
                    c.replyTo().tell(placement.chooseFor(c.work(), c.baseModel(), c.adapter(), c.avoid()));
                    yield Behaviors.same();
                }
            });
        });
    }
}
