/** The training file store's contract. */
package io.loraplex.cluster.files;
