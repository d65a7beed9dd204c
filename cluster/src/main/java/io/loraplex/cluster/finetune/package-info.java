/** The fine-tuning contract: the per-tenant {@code FineTune} entity's commands and replies. */
package io.loraplex.cluster.finetune;
