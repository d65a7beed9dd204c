package io.loraplex.persistence;

/**
 * Marks what the journal stores: events and snapshots of the event-sourced entities. They are
 * written as Jackson CBOR ({@code jackson-cbor}, bound in this module's {@code reference.conf}),
 * with the schema version in the manifest; a class whose shape changes gets a
 * {@code JacksonMigration} so old events still read. Messages between JVMs stay Kryo
 * ({@code RemoteMessage}); nothing is both.
 */
public interface CborSerializable {
}
