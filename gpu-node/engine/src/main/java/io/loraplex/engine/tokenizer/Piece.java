package io.loraplex.engine.tokenizer;

/**
 * One split of the input on its way through normalization and pre-tokenization (HF's {@code Split}
 * of a {@code PreTokenizedString}).
 *
 * @param text    the normalized, possibly pre-tokenized text of this split
 * @param atStart whether the split begins at offset 0 of the original input; Metaspace's
 *                {@code prepend_scheme: "first"} prepends only there
 * @param tokenId the id when this split is an added token (then it is final), else -1
 */
record Piece(String text, boolean atStart, int tokenId) {

    static Piece text(String text, boolean atStart) {
        return new Piece(text, atStart, -1);
    }

    boolean isToken() {
        return tokenId >= 0;
    }

    /** The sub-split [start, end) of this text; it keeps {@code atStart} only if it starts at 0. */
    Piece slice(int start, int end) {
        return new Piece(text.substring(start, end), atStart && start == 0, -1);
    }

    Piece withText(String newText) {
        return new Piece(newText, atStart, tokenId);
    }
}
