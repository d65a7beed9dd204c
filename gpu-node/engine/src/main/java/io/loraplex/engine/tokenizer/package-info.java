/**
 * Tokenization for the engine, in pure Java and faithful to Hugging Face's.
 *
 * <p>{@link io.loraplex.engine.tokenizer.Tokenizer} reads a model's {@code tokenizer.json} (BPE,
 * byte-level as in Llama 3/Qwen2 or with byte fallback as in Llama 2/Mistral) and encodes as HF's
 * Rust {@code tokenizers} does, checked id for id against it (through DJL) in the tests. One encode
 * is a straight list of steps, one class each:
 * <ol>
 *   <li>{@code AddedVocabulary}: cut out added tokens (leftmost longest), normalize the rest
 *       piece by piece ({@code Normalizer});</li>
 *   <li>{@code PreTokenizer}: split into words, possibly rewriting them (byte-level alphabet,
 *       Metaspace), with the {@code SplitBehavior}s of HF;</li>
 *   <li>{@code BpeModel}: merge each word, lowest rank first, leftmost on ties;</li>
 *   <li>{@code PostProcessor}: the special tokens around the sequence.</li>
 * </ol>
 * Decoding runs the {@code Decoder} chain over the pieces; {@link
 * io.loraplex.engine.tokenizer.IncrementalDecoder} streams it. {@link
 * io.loraplex.engine.tokenizer.ChatTemplate} renders the model's Jinja chat template with Jinjava
 * made to behave like transformers' Jinja2, {@link io.loraplex.engine.tokenizer.GenerationConfig}
 * reads the model's generation defaults, and {@link io.loraplex.engine.tokenizer.TinyTokenizer}
 * trains and writes small real tokenizers for generated test models.
 *
 * <p>Text is handled as Java strings (UTF-16); Rust's character predicates ({@code RustChars}),
 * UTF-8 decoding ({@code Utf8}) and regex dialect ({@code RustRegex}) are reproduced where Java's
 * differ. A component type this package does not implement is refused when the file is loaded,
 * never skipped.
 */
package io.loraplex.engine.tokenizer;
