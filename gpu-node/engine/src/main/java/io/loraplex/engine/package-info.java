/**
 * The loraplex engine: pure Java (Pekko is never on its classpath), one base model and many LoRA
 * adapters. Packages: {@code model} (Hugging Face directories, safetensors, configs, identity),
 * {@code tokenizer}, {@code lora} (PEFT adapters), {@code backend} (the batched forward step and its
 * implementations), {@code kv} (paged KV cache), {@code sample} (sampling), {@code request} (the one
 * preparation of a request: prompt to tokens, parameters to sampling), {@code cli} (commands).
 *
 * <p>Dimension legend used in shape comments across the engine:
 * {@code B} batch (sequences), {@code T} tokens in a step, {@code C} hidden size, {@code NH} query
 * heads, {@code NKV} key/value heads, {@code HS} head size, {@code I} MLP intermediate size,
 * {@code V} vocabulary, {@code L} layers, {@code R} LoRA rank, {@code P} tokens per KV block.
 */
package io.loraplex.engine;
