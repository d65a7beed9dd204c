/**
 * The {@code FineTune} entity: a tenant's training files and fine-tuning jobs, run on GPU nodes and
 * registered through the adapter lifecycle.
 */
package io.loraplex.persistence.finetune;
