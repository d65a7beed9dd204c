/** The store of tenants' training files: streamed uploads, atomic commits, reads verified by SHA-256. */
package io.loraplex.persistence.files;
