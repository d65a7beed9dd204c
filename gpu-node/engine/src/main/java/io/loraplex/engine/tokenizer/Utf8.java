package io.loraplex.engine.tokenizer;

/**
 * UTF-8 decoding with Rust's semantics. {@link #lossy} is {@code String::from_utf8_lossy}: each
 * maximal ill-formed subsequence becomes one U+FFFD (Unicode's recommended practice), which is what
 * the ByteLevel decoder emits; {@link #strict} is {@code String::from_utf8}, which ByteFallback uses
 * to decide between the text and one U+FFFD per byte.
 */
final class Utf8 {

    private Utf8() {
    }

    static String lossy(byte[] bytes, int length) {
        StringBuilder out = new StringBuilder(length);
        decode(bytes, length, out);
        return out.toString();
    }

    /** The decoded text, or null when {@code bytes} is not well-formed UTF-8. */
    static String strict(byte[] bytes, int length) {
        StringBuilder out = new StringBuilder(length);
        return decode(bytes, length, out) ? out.toString() : null;
    }

    /** Appends the lossy decoding to {@code out}; returns whether the input was well-formed. */
    private static boolean decode(byte[] bytes, int length, StringBuilder out) {
        boolean valid = true;
        int i = 0;
        while (i < length) {
            int b0 = bytes[i] & 0xFF;
            if (b0 < 0x80) {
                out.append((char) b0);
                i++;
                continue;
            }
            int need;      // continuation bytes after the lead
            int lo = 0x80; // allowed range of the first continuation byte (excludes overlongs, surrogates, > U+10FFFF)
            int hi = 0xBF;
            int cp;
            if (b0 >= 0xC2 && b0 <= 0xDF) {
                need = 1;
                cp = b0 & 0x1F;
            } else if (b0 >= 0xE0 && b0 <= 0xEF) {
                need = 2;
                cp = b0 & 0x0F;
                if (b0 == 0xE0) {
                    lo = 0xA0;
                } else if (b0 == 0xED) {
                    hi = 0x9F;
                }
            } else if (b0 >= 0xF0 && b0 <= 0xF4) {
                need = 3;
                cp = b0 & 0x07;
                if (b0 == 0xF0) {
                    lo = 0x90;
                } else if (b0 == 0xF4) {
                    hi = 0x8F;
                }
            } else {
                out.append('\uFFFD');
                valid = false;
                i++;
                continue;
            }
            int j = i + 1;
            int got = 0;
            while (got < need && j < length) {
                int b = bytes[j] & 0xFF;
                boolean ok = got == 0 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
                if (!ok) {
                    break;
                }
                cp = (cp << 6) | (b & 0x3F);
                got++;
                j++;
            }
            if (got == need) {
                out.appendCodePoint(cp);
            } else {
                out.append('\uFFFD');
                valid = false;
            }
            i = j;
        }
        return valid;
    }
}
