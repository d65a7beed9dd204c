/**
 * The paged KV cache: fixed-size blocks of {@code P} positions, each sequence reaching its keys and
 * values through a block table, so memory is claimed a block at a time and freed at once.
 */
package io.loraplex.engine.kv;
