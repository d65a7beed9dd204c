/**
 * The simulator's check against the real thing: a request trace (the shared CSV format,
 * {@code at_ms,tenant,model,session,prompt_tokens,max_tokens,stream}) generated from a seed, replayed at
 * its timestamps against any loraplex URL, and a result file
 * ({@code at_ms,tenant,model,node,tier,ttft_ms,latency_ms,status}) with its summary (hot-hit rate, cold
 * loads, time to first token p50/p99, failures), which the simulator's result file is compared with.
 *
 * <p>The trace's request type stays private to this package: the fleet simulator has its own, and the
 * two meet only in the CSV files.
 */
package io.loraplex.simulations.fleet.replay;
