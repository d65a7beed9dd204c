/**
 * Serving requests: per-request output processing (sampling, incremental detokenization, stop
 * tokens and strings), and the continuous-batching scheduler that runs many requests, each with
 * its own adapter, in every step.
 */
package io.loraplex.engine.batch;
