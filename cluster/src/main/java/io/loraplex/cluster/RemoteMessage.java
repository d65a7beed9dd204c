package io.loraplex.cluster;

/**
 * Marks every message that may cross JVMs. The configuration binds it to the Kryo serializer of
 * {@code io.loraplex.cluster.serialization}; Java serialization is switched off.
 */
public interface RemoteMessage {
}
