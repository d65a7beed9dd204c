/** Which GPU node serves a generation: the receptionist's node list, polled stats, least-loaded choice. */
package io.loraplex.router.placement;
