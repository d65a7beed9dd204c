package io.loraplex.engine.tokenizer;

/** The two BPE families {@link TinyTokenizer} writes. */
public enum TokenizerKind {
    /** GPT-2/Llama 3/Qwen2 style: a regex split, then BPE over UTF-8 bytes in the byte-level alphabet. */
    BYTE_LEVEL,
    /** Llama 2/Mistral style: SentencePiece-like "▁" words over characters, unknown ones as {@code <0xNN>} bytes. */
    BYTE_FALLBACK
}
