package io.loraplex.engine.tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;

/**
 * A Hugging Face {@code tokenizer.json} (BPE: byte-level as in Llama 3 and Qwen2, or with byte
 * fallback as in Llama 2 and Mistral), read in pure Java and encoding as HF's Rust
 * {@code tokenizers} does. The steps of {@link #encode}: cut out added tokens, normalize,
 * pre-tokenize, BPE per word, then the special tokens of the post-processor. Every component type
 * of the file must be one this package implements; anything else is refused at load.
 *
 * <p>Instances are immutable apart from the per-word cache and safe to share between threads.
 */
public final class Tokenizer {

    public static final String FILE = "tokenizer.json";

    private final List<Path> files;
    private final Normalizer normalizer;       // nullable
    private final PreTokenizer preTokenizer;   // nullable
    private final BpeModel model;
    private final AddedVocabulary added;
    private final PostProcessor postProcessor; // nullable
    private final Decoder decoder;             // nullable: pieces are joined with spaces, as in HF
    private final int vocabSize;
    private final String bosToken;             // nullable
    private final String eosToken;             // nullable
    private final OptionalInt bosId;
    private final int[] eosIds;

    private Tokenizer(List<Path> files, Normalizer normalizer, PreTokenizer preTokenizer, BpeModel model,
                      AddedVocabulary added, PostProcessor postProcessor, Decoder decoder, TokenizerConfig config,
                      Json where) throws IOException {
        this.files = files;
        this.normalizer = normalizer;
        this.preTokenizer = preTokenizer;
        this.model = model;
        this.added = added;
        this.decoder = decoder;
        this.vocabSize = Math.max(model.maxId(), added.maxId()) + 1;
        this.bosToken = config.bosToken();
        this.eosToken = config.eosToken();
        this.bosId = bosToken == null ? OptionalInt.empty() : OptionalInt.of(requireId(bosToken, "bos_token", config, where));
        this.eosIds = eosToken == null ? new int[0] : new int[] {requireId(eosToken, "eos_token", config, where)};
        this.postProcessor = specialTokens(postProcessor, config);
    }

    /**
     * Reads {@code tokenizer.json} of {@code modelDir} (or the file itself when given one) and the
     * {@code tokenizer_config.json} / {@code special_tokens_map.json} beside it when present.
     *
     * @throws IOException when a file is missing or malformed, or names a component type or option
     *                     this package does not implement; the message names the file and the JSON path
     */
    public static Tokenizer load(Path modelDir) throws IOException {
        Path file = Files.isDirectory(modelDir) ? modelDir.resolve(FILE) : modelDir;
        if (!Files.isRegularFile(file)) {
            throw new NoSuchFileException(file.toString(), null, "no " + FILE + " to load the tokenizer from");
        }
        Json root = Json.read(file);
        if (!root.node().isObject()) {
            throw root.error("expected a JSON object, found " + root.node().getNodeType());
        }
        // Both would change what a single encode returns; real files leave them null.
        if (root.has("truncation")) {
            throw root.get("truncation").error("truncation is not supported here (expected null)");
        }
        if (root.has("padding")) {
            throw root.get("padding").error("padding is not supported here (expected null)");
        }
        Normalizer normalizer = Normalizer.parse(root.get("normalizer"));
        PreTokenizer preTokenizer = PreTokenizer.parse(root.get("pre_tokenizer"));
        BpeModel model = BpeModel.parse(root.required("model"));
        AddedVocabulary added = new AddedVocabulary(AddedVocabulary.parse(root.get("added_tokens"), model), normalizer);
        PostProcessor postProcessor = PostProcessor.parse(root.get("post_processor"));
        Decoder decoder = Decoder.parse(root.get("decoder"));
        Path dir = file.toAbsolutePath().getParent();
        TokenizerConfig config = TokenizerConfig.read(dir);
        List<Path> files = new ArrayList<>();
        files.add(file);
        files.addAll(config.files());
        return new Tokenizer(List.copyOf(files), normalizer, preTokenizer, model, added, postProcessor, decoder, config, root);
    }

    /**
     * transformers rebuilds the special tokens from {@code add_bos_token}/{@code add_eos_token} when
     * tokenizer_config.json sets them ({@code update_post_processor}); without them, the
     * post-processor of tokenizer.json decides.
     */
    private PostProcessor specialTokens(PostProcessor fromFile, TokenizerConfig config) {
        if (config.addBosToken() == null && config.addEosToken() == null) {
            return fromFile;
        }
        List<int[]> items = new ArrayList<>();
        if (Boolean.TRUE.equals(config.addBosToken()) && bosId.isPresent()) {
            items.add(new int[] {bosId.getAsInt()});
        }
        items.add(null);
        if (Boolean.TRUE.equals(config.addEosToken()) && eosIds.length > 0) {
            items.add(new int[] {eosIds[0]});
        }
        return new PostProcessor.Template(items);
    }

    private int requireId(String token, String field, TokenizerConfig config, Json where) throws IOException {
        Integer id = added.id(token);
        if (id == null) {
            id = model.id(token).isPresent() ? model.id(token).getAsInt() : null;
        }
        if (id == null) {
            Path source = config.configFile() != null ? config.configFile() : config.files().getFirst();
            throw new IOException(source + ": " + field + " '" + token + "' is not a token of " + where.file());
        }
        return id;
    }

    /** The ids of {@code text}; with {@code addSpecialTokens}, the post-processor's special tokens around them. */
    public int[] encode(String text, boolean addSpecialTokens) {
        List<Piece> pieces = added.extractAndNormalize(text, normalizer);
        if (preTokenizer != null) {
            pieces = preTokenizer.apply(pieces);
        }
        IntList ids = new IntList(text.length() / 3 + 4);
        for (Piece p : pieces) {
            if (p.isToken()) {
                ids.add(p.tokenId());
            } else {
                model.tokenize(p.text(), ids);
            }
        }
        int[] out = ids.toArray();
        return addSpecialTokens && postProcessor != null ? postProcessor.process(out) : out;
    }

    /**
     * The text of {@code ids}. Ids that name no token are dropped, as HF does (a model's embedding
     * may have more rows than the tokenizer has tokens); with {@code skipSpecialTokens}, so are
     * special added tokens.
     */
    public String decode(int[] ids, boolean skipSpecialTokens) {
        return decode(ids, 0, ids.length, skipSpecialTokens);
    }

    String decode(int[] ids, int from, int to, boolean skipSpecialTokens) {
        List<String> pieces = new ArrayList<>(to - from);
        for (int i = from; i < to; i++) {
            String piece = pieceOrNull(ids[i]);
            if (piece != null && !(skipSpecialTokens && added.isSpecialContent(piece))) {
                pieces.add(piece);
            }
        }
        return decoder == null ? String.join(" ", pieces) : decoder.decode(pieces);
    }

    /**
     * True when {@code id} cannot end a run of {@code <0xNN>} pieces that the decoder joins: it is
     * such a piece itself, or it decodes to no piece at all (an unknown id, or a special token being
     * skipped), so the pieces on both sides meet.
     */
    boolean continuesByteRun(int id, boolean skipSpecialTokens) {
        String piece = pieceOrNull(id);
        if (piece == null || (skipSpecialTokens && added.isSpecialContent(piece))) {
            return true;
        }
        return decoder != null && decoder.fusesBytePieces() && Decoder.ByteFallback.byteOf(piece) >= 0;
    }

    private String pieceOrNull(int id) {
        AddedVocabulary.AddedToken t = added.token(id);
        return t != null ? t.content() : model.piece(id);
    }

    /** Max id + 1 over the model vocabulary and the added tokens. */
    public int vocabSize() {
        return vocabSize;
    }

    /** The piece (vocabulary string) of {@code id}, in the model's alphabet (e.g. "Ġthe", "▁the"). */
    public String piece(int id) {
        String piece = pieceOrNull(id);
        if (piece == null) {
            throw new IllegalArgumentException("token id " + id + " is not in the vocabulary of " + files.getFirst()
                    + " (vocab size " + vocabSize + ")");
        }
        return piece;
    }

    /**
     * The text {@code id} adds where it follows other text, as logprobs report a token: a
     * SentencePiece "▁mat" is " mat" there, where {@code decode} of it alone drops the space as the
     * start of a text. A piece that is part of a character (a lone UTF-8 byte) is U+FFFD.
     */
    public String tokenText(int id) {
        String piece = pieceOrNull(id);
        if (piece == null) {
            return "";
        }
        if (decoder == null) {
            return " " + piece; // decode joins pieces with spaces
        }
        // decode it after an anchor that every decoder leaves as it is, and take what it added
        String before = decoder.decode(List.of(TEXT_ANCHOR));
        String both = decoder.decode(List.of(TEXT_ANCHOR, piece));
        return both.startsWith(before) ? both.substring(before.length()) : decoder.decode(List.of(piece));
    }

    private static final String TEXT_ANCHOR = "a";

    /** The id of a piece, added tokens first, as HF's {@code token_to_id}. */
    public OptionalInt id(String piece) {
        Integer id = added.id(piece);
        return id != null ? OptionalInt.of(id) : model.id(piece);
    }

    /** Whether {@code id} is an added token marked special (skipped by {@code decode(ids, true)}). */
    public boolean isSpecial(int id) {
        AddedVocabulary.AddedToken t = added.token(id);
        return t != null && t.special();
    }

    /** The id of tokenizer_config's {@code bos_token}, if it names one. */
    public OptionalInt bosId() {
        return bosId;
    }

    /** The id of tokenizer_config's {@code eos_token}, or empty; generation_config.json may name more. */
    public int[] eosIds() {
        return eosIds.clone();
    }

    /** Nullable. */
    public String bosToken() {
        return bosToken;
    }

    /** Nullable. */
    public String eosToken() {
        return eosToken;
    }

    /** The files read (tokenizer.json first), for the base model's identity hash. */
    public List<Path> files() {
        return files;
    }
}
