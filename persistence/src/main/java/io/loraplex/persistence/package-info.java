/**
 * Event-sourced adapter and tenant lifecycles, the content-addressed blob store and journal setup
 * (embedded H2 by default, Cassandra for clusters). Filled by "Adapter lifecycle".
 */
package io.loraplex.persistence;
