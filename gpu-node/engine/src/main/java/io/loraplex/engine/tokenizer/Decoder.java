package io.loraplex.engine.tokenizer;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The {@code decoder} of tokenizer.json: turns token pieces back into text. Each step maps a list
 * of strings to a list of strings (HF's {@code decode_chain}); the results are concatenated.
 */
sealed interface Decoder {

    List<String> decodeChain(List<String> tokens);

    String SUPPORTED = "Sequence, ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, BPEDecoder";

    default String decode(List<String> tokens) {
        return String.join("", decodeChain(tokens));
    }

    /** Whether runs of {@code <0xNN>} pieces are decoded together, so a run is final only once it ends. */
    default boolean fusesBytePieces() {
        return false;
    }

    static Decoder parse(Json json) throws IOException {
        if (json.isAbsentOrNull()) {
            return null;
        }
        String type = json.type();
        return switch (type) {
            case "Sequence" -> {
                List<Decoder> steps = new ArrayList<>();
                for (Json step : json.elements("decoders")) {
                    steps.add(parse(step));
                }
                yield new Sequence(List.copyOf(steps));
            }
            case "ByteLevel" -> new ByteLevel();
            case "Metaspace" -> new Metaspace(PreTokenizer.singleChar(json, "replacement"),
                    PreTokenizer.Metaspace.scheme(json));
            case "Replace" -> new Replace(Normalizer.ReplacePattern.parse(json.required("pattern")), json.string("content"));
            case "ByteFallback" -> new ByteFallback();
            case "Fuse" -> new Fuse();
            case "Strip" -> new Strip(PreTokenizer.singleChar(json, "content"), json.integer("start"), json.integer("stop"));
            case "BPEDecoder" -> new BpeSuffix(json.has("suffix") ? json.string("suffix") : "</w>");
            default -> throw json.unsupported("decoder", type, SUPPORTED);
        };
    }

    record Sequence(List<Decoder> steps) implements Decoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            for (Decoder step : steps) {
                tokens = step.decodeChain(tokens);
            }
            return tokens;
        }

        @Override
        public boolean fusesBytePieces() {
            return steps.stream().anyMatch(Decoder::fusesBytePieces);
        }
    }

    /**
     * Maps every piece back through the byte-level alphabet and decodes all bytes as one UTF-8
     * string, lossily. A piece with a character outside the alphabet (an added token such as
     * "<|fim prefix|>" with a space) contributes its own UTF-8 bytes instead.
     */
    record ByteLevel() implements Decoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
            for (String t : tokens) {
                byte[] mapped = new byte[t.length()];
                boolean inAlphabet = true;
                for (int i = 0; i < t.length() && inAlphabet; i++) {
                    int b = ByteLevelAlphabet.byteOf(t.charAt(i));
                    inAlphabet = b >= 0;
                    mapped[i] = (byte) b;
                }
                byte[] out = inAlphabet ? mapped : t.getBytes(java.nio.charset.StandardCharsets.UTF_8);
                bytes.write(out, 0, out.length);
            }
            return List.of(Utf8.lossy(bytes.toByteArray(), bytes.size()));
        }
    }

    /**
     * Replacement characters become spaces, except in the first piece, where (unless the scheme is
     * "never") they are all dropped: that undoes the prepended one. HF drops every one there, not
     * just the leading one, and so do we.
     */
    record Metaspace(int replacement, PreTokenizer.PrependScheme scheme) implements Decoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            List<String> out = new ArrayList<>(tokens.size());
            String rep = Character.toString(replacement);
            for (int i = 0; i < tokens.size(); i++) {
                boolean first = i == 0 && scheme != PreTokenizer.PrependScheme.NEVER;
                out.add(tokens.get(i).replace(rep, first ? "" : " "));
            }
            return out;
        }
    }

    record Replace(Pattern pattern, String content) implements Decoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            String replacement = Matcher.quoteReplacement(content);
            return tokens.stream().map(t -> pattern.matcher(t).replaceAll(replacement)).toList();
        }
    }

    /**
     * Runs of {@code <0xNN>} pieces become their UTF-8 text, or one U+FFFD per byte when the run is
     * not valid UTF-8 (HF's rule, which differs from lossy decoding).
     */
    record ByteFallback() implements Decoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            List<String> out = new ArrayList<>(tokens.size());
            byte[] run = new byte[16];
            int runLength = 0;
            for (String t : tokens) {
                int b = byteOf(t);
                if (b >= 0) {
                    if (runLength == run.length) {
                        run = java.util.Arrays.copyOf(run, runLength * 2);
                    }
                    run[runLength++] = (byte) b;
                    continue;
                }
                flush(run, runLength, out);
                runLength = 0;
                out.add(t);
            }
            flush(run, runLength, out);
            return out;
        }

        @Override
        public boolean fusesBytePieces() {
            return true;
        }

        private static void flush(byte[] run, int length, List<String> out) {
            if (length == 0) {
                return;
            }
            String text = Utf8.strict(run, length);
            if (text != null) {
                out.add(text);
            } else {
                for (int i = 0; i < length; i++) {
                    out.add("\uFFFD");
                }
            }
        }

        /** The byte of a {@code <0xNN>} piece, else -1; parsed like Rust's {@code u8::from_str_radix}. */
        static int byteOf(String piece) {
            if (piece.length() != 6 || !piece.startsWith("<0x") || piece.charAt(5) != '>') {
                return -1;
            }
            String hex = piece.substring(3, 5);
            if (hex.charAt(0) == '+') {
                hex = hex.substring(1); // Rust accepts a leading '+'
            }
            if (hex.isEmpty() || !hex.chars().allMatch(c -> Character.digit(c, 16) >= 0 && c < 0x80)) {
                return -1;
            }
            return Integer.parseInt(hex, 16);
        }
    }

    record Fuse() implements Decoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            return List.of(String.join("", tokens));
        }
    }

    /** Drops up to {@code start} leading and {@code stop} trailing {@code content} characters of each piece. */
    record Strip(int content, int start, int stop) implements Decoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            List<String> out = new ArrayList<>(tokens.size());
            for (String t : tokens) {
                int[] cps = t.codePoints().toArray();
                int from = 0;
                while (from < start && from < cps.length && cps[from] == content) {
                    from++;
                }
                int to = cps.length;
                for (int i = 0; i < stop && to > from && cps[to - 1] == content; i++) {
                    to--;
                }
                out.add(new String(cps, from, to - from));
            }
            return out;
        }
    }

    /** The classic BPE end-of-word suffix becomes a space, except on the last piece. */
    record BpeSuffix(String suffix) implements Decoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            List<String> out = new ArrayList<>(tokens.size());
            for (int i = 0; i < tokens.size(); i++) {
                out.add(tokens.get(i).replace(suffix, i == tokens.size() - 1 ? "" : " "));
            }
            return out;
        }
    }
}
