/**
 * PEFT LoRA adapters: parsing {@code adapter_config.json}, validating
 * {@code adapter_model.safetensors} against the base, and the per-module weights the backends add
 * unmerged: {@code y = x·Wᵀ (+ b) + scale·(x·Aᵀ)·Bᵀ} with A {@code (R, in)} and B {@code (out, R)}.
 */
package io.loraplex.engine.lora;
