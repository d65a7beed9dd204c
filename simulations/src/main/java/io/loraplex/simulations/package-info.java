/**
 * Load simulations against the HTTP API and a discrete-event fleet simulator for scales a single
 * machine cannot run.
 */
package io.loraplex.simulations;
