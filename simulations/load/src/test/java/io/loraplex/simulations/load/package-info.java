/** Gatling simulations that load a running loraplex server (embedded, local cluster or Kubernetes) through its HTTP API. */
package io.loraplex.simulations.load;
