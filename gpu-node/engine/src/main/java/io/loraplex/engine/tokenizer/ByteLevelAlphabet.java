package io.loraplex.engine.tokenizer;

/**
 * GPT-2's reversible byte-to-character table ({@code bytes_to_unicode}): printable Latin-1 bytes
 * map to themselves and the rest to U+0100 upwards, so every byte string becomes a visible string
 * without spaces or control characters and BPE never has to handle raw bytes.
 */
final class ByteLevelAlphabet {

    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final int[] CHAR_TO_BYTE = new int[0x180];

    static {
        java.util.Arrays.fill(CHAR_TO_BYTE, -1);
        int next = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = printable ? (char) b : (char) (256 + next++);
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = b;
        }
    }

    private ByteLevelAlphabet() {
    }

    static char charOf(int b) {
        return BYTE_TO_CHAR[b & 0xFF];
    }

    /** The byte behind {@code c}, or -1 when {@code c} is not in the alphabet. */
    static int byteOf(char c) {
        return c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
    }

    /** The UTF-8 bytes of {@code text}, each written as its alphabet character. */
    static String encode(String text) {
        byte[] bytes = text.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        char[] out = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            out[i] = BYTE_TO_CHAR[bytes[i] & 0xFF];
        }
        return new String(out);
    }

    /**
     * The 256 alphabet characters in GPT-2's order (printable bytes first), which is also the
     * order of the first 256 ids of GPT-2 style vocabularies.
     */
    static char[] inVocabularyOrder() {
        char[] out = new char[256];
        int i = 0;
        for (int b = 0; b < 256; b++) {
            if (BYTE_TO_CHAR[b] == b) {
                out[i++] = (char) b;
            }
        }
        for (int b = 0; b < 256; b++) {
            if (BYTE_TO_CHAR[b] != b) {
                out[i++] = BYTE_TO_CHAR[b];
            }
        }
        return out;
    }
}
