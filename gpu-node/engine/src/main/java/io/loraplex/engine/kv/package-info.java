/**
 * Paged memory for serving: one arena of fixed-size pages holds both the KV cache (one page is one
 * block of {@code P} positions for every layer) and the resident adapters' weights, under one
 * budget. Sequences reach their keys and values through block tables of page ids; full blocks are
 * shared between requests through the prefix cache.
 */
package io.loraplex.engine.kv;
