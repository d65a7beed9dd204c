package io.loraplex.cluster.serialization;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.cluster.tenant.TenantProtocol;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.lang.reflect.Type;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializers;
import org.apache.pekko.stream.SourceRef;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.stream.javadsl.StreamRefs;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Every protocol message, listed from the sealed interfaces, round-trips through the Kryo serializer. */
class KryoSerializerTest {

    static ActorTestKit testKit;
    static ActorRef<Object> probe;
    static SourceRef<GpuNodeProtocol.TokenEvent> sourceRef;
    static org.apache.pekko.stream.SinkRef<org.apache.pekko.util.ByteString> sinkRef;

    @BeforeAll
    static void start() throws Exception {
        testKit = ActorTestKit.create("kryo-test", ConfigFactory.load("application-test.conf"));
        probe = testKit.<Object>createTestProbe().ref();
        sourceRef = Source.<GpuNodeProtocol.TokenEvent>single(new GpuNodeProtocol.Failed("x"))
                .runWith(StreamRefs.sourceRef(), testKit.system());
        sinkRef = StreamRefs.<org.apache.pekko.util.ByteString>sinkRef().to(org.apache.pekko.stream.javadsl.Sink.ignore())
                .run(testKit.system());
    }

    @AfterAll
    static void stop() {
        testKit.shutdownTestKit();
    }

    /**
     * Every concrete message: reachable from the protocols' sealed interfaces, plus every other
     * record the protocol classes declare (replies and the values messages carry).
     */
    static Set<Class<?>> messages() {
        Set<Class<?>> out = new LinkedHashSet<>();
        for (Class<?> root : List.of(GpuNodeProtocol.Command.class, GpuNodeProtocol.GenerateReply.class,
                GpuNodeProtocol.TokenEvent.class, GpuNodeProtocol.Prompt.class, TenantProtocol.Command.class,
                TenantProtocol.Admission.class, io.loraplex.cluster.adapter.AdapterProtocol.Command.class,
                io.loraplex.cluster.blob.BlobProtocol.Command.class, GpuNodeProtocol.TrainingUpdate.class,
                io.loraplex.cluster.files.FileStoreProtocol.Command.class,
                io.loraplex.cluster.finetune.FineTuneProtocol.Command.class)) {
            collect(root, out);
        }
        for (Class<?> protocol : List.of(GpuNodeProtocol.class, TenantProtocol.class, io.loraplex.cluster.adapter.AdapterProtocol.class,
                io.loraplex.cluster.blob.BlobProtocol.class, io.loraplex.cluster.files.FileStoreProtocol.class,
                io.loraplex.cluster.finetune.FineTuneProtocol.class)) {
            for (Class<?> nested : protocol.getDeclaredClasses()) {
                if (nested.isRecord()) {
                    out.add(nested);
                }
            }
        }
        return out;
    }

    private static void collect(Class<?> type, Set<Class<?>> out) {
        if (type.isSealed()) {
            for (Class<?> sub : type.getPermittedSubclasses()) {
                collect(sub, out);
            }
        } else {
            out.add(type);
        }
    }

    @Test
    void everyProtocolMessageRoundTrips() throws Exception {
        Serialization serialization = SerializationExtension.get(testKit.system());
        Set<Class<?>> messages = messages();
        assertTrue(messages.size() >= 70, "found " + messages.size() + " messages");
        for (Class<?> type : messages) {
            Object message = sample(type);
            var serializer = serialization.findSerializerFor(message);
            assertInstanceOf(KryoSerializer.class, serializer, type.getName() + " must use the Kryo serializer");
            byte[] bytes = serialization.serialize(message).get();
            Object back = serialization.deserialize(bytes, serializer.identifier(), Serializers.manifestFor(serializer, message)).get();
            if (message instanceof io.loraplex.cluster.blob.BlobProtocol.FileSink sink) {
                assertEquals(sink.uploadId(), ((io.loraplex.cluster.blob.BlobProtocol.FileSink) back).uploadId());
            } else if (message instanceof io.loraplex.cluster.files.FileStoreProtocol.UploadSink sink) {
                assertEquals(sink.uploadId(), ((io.loraplex.cluster.files.FileStoreProtocol.UploadSink) back).uploadId());
            } else if (message instanceof io.loraplex.cluster.files.FileStoreProtocol.FileSource source) {
                assertEquals(source.fileId(), ((io.loraplex.cluster.files.FileStoreProtocol.FileSource) back).fileId());
            } else if (message instanceof GpuNodeProtocol.Started started) {
                GpuNodeProtocol.Started s = (GpuNodeProtocol.Started) back;
                assertEquals(started.requestId(), s.requestId());
                assertEquals(started.promptTokens(), s.promptTokens());
                assertTrue(s.tokens() != null);
            } else {
                assertEquals(message, back, type.getName() + " round trip");
            }
        }
    }

    @Test
    void everyRegisteredClassIsAProtocolClassOrKnownType() {
        Set<Class<?>> messages = messages();
        for (Class<?> type : messages) {
            assertTrue(KryoRegistrations.IDS.containsKey(type.getName()), type.getName() + " has no Kryo id");
        }
        assertEquals(KryoRegistrations.IDS.size(), Set.copyOf(KryoRegistrations.IDS.values()).size(), "ids are unique");
    }

    @Test
    void unregisteredClassesAreRefusedNotWrittenByName() {
        KryoSerializer kryo = new KryoSerializer((org.apache.pekko.actor.ExtendedActorSystem)
                org.apache.pekko.actor.typed.javadsl.Adapter.toClassic(testKit.system()));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> kryo.toBinary(new StringBuilder("x")));
        assertTrue(e.getMessage().contains("StringBuilder"), e.getMessage());
    }

    /** A sample instance of a protocol type, every component filled. */
    static Object sample(Class<?> type) throws Exception {
        if (type == String.class) {
            return "text-" + type.getSimpleName();
        }
        if (type == TenantId.class) {
            return new TenantId("acme");
        }
        if (type == NodeId.class) {
            return new NodeId("node-1");
        }
        if (type == ContentHash.class) {
            return ContentHash.parse("ab".repeat(32));
        }
        if (type == AdapterRef.class) {
            return new AdapterRef(new TenantId("acme"), "cafe", 3, ContentHash.parse("cd".repeat(32)));
        }
        if (type == ActorRef.class) {
            return probe;
        }
        if (type == SourceRef.class) {
            return sourceRef;
        }
        if (type == org.apache.pekko.stream.SinkRef.class) {
            return sinkRef;
        }
        if (type == org.apache.pekko.util.ByteString.class) {
            return org.apache.pekko.util.ByteString.fromString("bytes");
        }
        if (type.isEnum()) {
            return type.getEnumConstants()[type.getEnumConstants().length - 1];
        }
        if (type == int.class || type == Integer.class) {
            return 7;
        }
        if (type == int[].class) {
            return new int[] {3, 1, 4, 1, 5};
        }
        if (type == long.class || type == Long.class) {
            return 123456789L;
        }
        if (type == double.class || type == Double.class) {
            return 0.5;
        }
        if (type == boolean.class || type == Boolean.class) {
            return true;
        }
        if (type.isSealed()) {
            return sample(type.getPermittedSubclasses()[0]);
        }
        if (type.isRecord()) {
            RecordComponent[] components = type.getRecordComponents();
            Object[] args = new Object[components.length];
            Class<?>[] types = new Class<?>[components.length];
            for (int i = 0; i < components.length; i++) {
                types[i] = components[i].getType();
                args[i] = sampleOf(components[i].getGenericType(), components[i].getType());
            }
            return type.getDeclaredConstructor(types).newInstance(args);
        }
        throw new IllegalArgumentException("no sample for " + type);
    }

    private static Object sampleOf(Type generic, Class<?> raw) throws Exception {
        if (raw == List.class) {
            Class<?> element = (Class<?>) ((ParameterizedType) generic).getActualTypeArguments()[0];
            List<Object> list = new ArrayList<>();
            list.add(sample(element));
            list.add(sample(element));
            return list;
        }
        if (raw == Set.class) {
            Class<?> element = (Class<?>) ((ParameterizedType) generic).getActualTypeArguments()[0];
            return Set.of(sample(element));
        }
        if (raw == Map.class) {
            return Map.of(17, -3.5, 42, 1.0);
        }
        return sample(raw);
    }
}
