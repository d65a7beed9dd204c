package io.loraplex.cluster.serialization;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.KryoException;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import com.esotericsoftware.kryo.serializers.ImmutableCollectionsSerializers;
import com.esotericsoftware.kryo.util.Pool;
import java.io.NotSerializableException;
import java.util.Map;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.serialization.JSerializer;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializers;

/**
 * Pekko serializer for every {@link io.loraplex.cluster.RemoteMessage}: Kryo with registration
 * required and the explicit ids of {@link KryoRegistrations}, so an unknown class fails loudly
 * instead of writing its name. Typed actor references travel as their paths; stream references
 * through Pekko's own serializer.
 */
public final class KryoSerializer extends JSerializer {

    /** This serializer's id in {@code pekko.actor.serialization-identifiers}. */
    public static final int IDENTIFIER = 8842;

    private final ExtendedActorSystem system;
    private final Pool<Kryo> pool;

    public KryoSerializer(ExtendedActorSystem system) {
        this.system = system;
        this.pool = new Pool<>(true, false, 16) {
            @Override
            protected Kryo create() {
                return newKryo();
            }
        };
    }

    private Kryo newKryo() {
        Kryo kryo = new Kryo();
        kryo.setRegistrationRequired(true);
        kryo.setReferences(false);
        ImmutableCollectionsSerializers.addDefaultSerializers(kryo);
        ActorRefSerializer actorRefs = new ActorRefSerializer(ActorRefResolver.get(Adapter.toTyped(system)));
        PekkoSerializer pekkoRefs = new PekkoSerializer(system);
        for (Map.Entry<String, Integer> e : KryoRegistrations.IDS.entrySet()) {
            Class<?> type = KryoRegistrations.load(e.getKey());
            if (e.getKey().endsWith("ActorRefAdapter")) {
                kryo.register(type, actorRefs, e.getValue());
            } else if (e.getKey().startsWith("org.apache.pekko.stream")) {
                kryo.register(type, pekkoRefs, e.getValue());
            } else {
                kryo.register(type, e.getValue());
            }
        }
        return kryo;
    }

    @Override
    public int identifier() {
        return IDENTIFIER;
    }

    @Override
    public boolean includeManifest() {
        return false;
    }

    @Override
    public byte[] toBinary(Object o) {
        Kryo kryo = pool.obtain();
        try (Output out = new Output(256, -1)) {
            kryo.writeClassAndObject(out, o);
            return out.toBytes();
        } catch (KryoException e) {
            throw new IllegalArgumentException("cannot serialize " + o.getClass().getName() + " with Kryo: " + e.getMessage(), e);
        } finally {
            pool.free(kryo);
        }
    }

    @Override
    public Object fromBinaryJava(byte[] bytes, Class<?> manifest) {
        Kryo kryo = pool.obtain();
        try (Input in = new Input(bytes)) {
            return kryo.readClassAndObject(in);
        } catch (KryoException e) {
            throw new IllegalArgumentException(new NotSerializableException("cannot deserialize a Kryo message: " + e.getMessage()));
        } finally {
            pool.free(kryo);
        }
    }

    /** Typed actor references as their serialization format (a path with its system's address). */
    private static final class ActorRefSerializer extends Serializer<ActorRef<?>> {
        private final ActorRefResolver resolver;

        ActorRefSerializer(ActorRefResolver resolver) {
            this.resolver = resolver;
        }

        @Override
        public void write(Kryo kryo, Output output, ActorRef<?> ref) {
            output.writeString(resolver.toSerializationFormat(ref));
        }

        @Override
        public ActorRef<?> read(Kryo kryo, Input input, Class<? extends ActorRef<?>> type) {
            return resolver.resolveActorRef(input.readString());
        }
    }

    /** Objects Pekko knows how to serialize (stream references): its serializer id, manifest and bytes. */
    private static final class PekkoSerializer extends Serializer<Object> {
        private final ExtendedActorSystem system;

        PekkoSerializer(ExtendedActorSystem system) {
            this.system = system;
        }

        @Override
        public void write(Kryo kryo, Output output, Object object) {
            Serialization serialization = SerializationExtension.get(system);
            org.apache.pekko.serialization.Serializer serializer = serialization.findSerializerFor(object);
            byte[] bytes = serializer.toBinary(object);
            output.writeInt(serializer.identifier());
            output.writeString(Serializers.manifestFor(serializer, object));
            output.writeInt(bytes.length);
            output.writeBytes(bytes);
        }

        @Override
        public Object read(Kryo kryo, Input input, Class<? extends Object> type) {
            int id = input.readInt();
            String manifest = input.readString();
            byte[] bytes = input.readBytes(input.readInt());
            return SerializationExtension.get(system).deserialize(bytes, id, manifest).get();
        }
    }
}
