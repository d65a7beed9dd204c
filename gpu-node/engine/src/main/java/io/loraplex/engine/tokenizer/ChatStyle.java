package io.loraplex.engine.tokenizer;

import java.util.List;

/**
 * The chat conventions {@link TinyTokenizer} can give a generated model: its special tokens (in
 * vocabulary order), which of them begin and end a sequence, and the chat template, each as in the
 * real model family.
 */
public enum ChatStyle {
    /** Llama 3 Instruct: header tokens around the role, {@code <|eot_id|>} ends a turn. */
    LLAMA3(List.of("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
            "<|begin_of_text|>", List.of("<|eot_id|>", "<|end_of_text|>"), null,
            "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' "
                    + "+ message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}"
                    + "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
                    + "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"),
    /** ChatML as in Qwen2 Instruct: no BOS, {@code <|im_end|>} ends a turn, {@code <|endoftext|>} pads. */
    CHATML(List.of("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
            null, List.of("<|im_end|>", "<|endoftext|>"), "<|endoftext|>",
            "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
                    + "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
                    + "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
                    + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"),
    /** Llama 2 chat: {@code [INST]} turns, the system prompt inside {@code <<SYS>>}, {@code </s>} ends a turn. */
    LLAMA2(List.of("<unk>", "<s>", "</s>"),
            "<s>", List.of("</s>"), null,
            "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
                    + "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
                    + "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
                    + "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
                    + "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
                    + "{% if loop.index0 == 0 and system_message != false %}"
                    + "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
                    + "{% else %}{% set content = message['content'] %}{% endif %}"
                    + "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
                    + "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"),
    /**
     * Phi-3 / Phi-4-mini instruct: {@code <|role|>\n…<|end|>\n} turns, {@code <|end|>} ends a turn,
     * {@code <s>} begins the sequence (SentencePiece-style byte-fallback vocabulary, as Phi-3's).
     */
    PHI3(List.of("<unk>", "<s>", "</s>", "<|endoftext|>", "<|assistant|>", "<|system|>", "<|end|>", "<|user|>"),
            "<s>", List.of("<|end|>", "<|endoftext|>"), "<|endoftext|>",
            "{% for message in messages %}{% if message['role'] == 'system' %}"
                    + "{{'<|system|>\\n' + message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'user' %}"
                    + "{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'assistant' %}"
                    + "{{'<|assistant|>\\n' + message['content'] + '<|end|>\\n'}}{% endif %}{% endfor %}"
                    + "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}");

    private final List<String> specialTokens;
    private final String bosToken;
    private final List<String> eosTokens;
    private final String padToken;
    private final String chatTemplate;

    ChatStyle(List<String> specialTokens, String bosToken, List<String> eosTokens, String padToken, String chatTemplate) {
        this.specialTokens = specialTokens;
        this.bosToken = bosToken;
        this.eosTokens = eosTokens;
        this.padToken = padToken;
        this.chatTemplate = chatTemplate;
    }

    /** All special tokens of the style, in vocabulary order. */
    public List<String> specialTokens() {
        return specialTokens;
    }

    /** Nullable: ChatML models have none. */
    public String bosToken() {
        return bosToken;
    }

    /** The end-of-turn token first (tokenizer_config's {@code eos_token}), then the end-of-text token if different. */
    public List<String> eosTokens() {
        return eosTokens;
    }

    /** Nullable. */
    public String padToken() {
        return padToken;
    }

    /** The Jinja chat template of tokenizer_config.json. */
    public String chatTemplate() {
        return chatTemplate;
    }
}
