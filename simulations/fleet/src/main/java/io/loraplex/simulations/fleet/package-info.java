/** A discrete-event simulator of a loraplex fleet, on the real placement and adapter-pool eviction code. */
package io.loraplex.simulations.fleet;
