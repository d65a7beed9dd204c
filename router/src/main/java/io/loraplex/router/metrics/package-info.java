/** Kamon metrics in the Prometheus text format, served by the router's own {@code GET /metrics}, with bounded adapter labels. */
package io.loraplex.router.metrics;
