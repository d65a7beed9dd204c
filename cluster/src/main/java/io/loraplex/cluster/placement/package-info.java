/** How the entities ask the one node-choice policy (router/placement) for a GPU node. */
package io.loraplex.cluster.placement;
