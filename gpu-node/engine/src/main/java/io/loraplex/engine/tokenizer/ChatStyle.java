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
     * Qwen3: ChatML with thinking tags. The template is Qwen3's own: reasoning of earlier turns is
     * dropped, the last turn's kept inside {@code <think>}, and {@code enable_thinking=false} opens
     * the answer with an empty think block.
     */
    QWEN3(List.of("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"),
            null, List.of("<|im_end|>", "<|endoftext|>"), "<|endoftext|>",
            "{%- if tools %}\n"
                    + "    {{- '<|im_start|>system\\n' }}\n"
                    + "    {%- if messages[0].role == 'system' %}\n"
                    + "        {{- messages[0].content + '\\n\\n' }}\n"
                    + "    {%- endif %}\n"
                    + "    {{- \"# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>\" }}\n"
                    + "    {%- for tool in tools %}\n"
                    + "        {{- \"\\n\" }}\n"
                    + "        {{- tool | tojson }}\n"
                    + "    {%- endfor %}\n"
                    + "    {{- \"\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\\"name\\\": <function-name>, \\\"arguments\\\": <args-json-object>}\\n</tool_call><|im_end|>\\n\" }}\n"
                    + "{%- else %}\n"
                    + "    {%- if messages[0].role == 'system' %}\n"
                    + "        {{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}\n"
                    + "    {%- endif %}\n"
                    + "{%- endif %}\n"
                    + "{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}\n"
                    + "{%- for message in messages[::-1] %}\n"
                    + "    {%- set index = (messages|length - 1) - loop.index0 %}\n"
                    + "    {%- if ns.multi_step_tool and message.role == \"user\" and message.content is string and not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}\n"
                    + "        {%- set ns.multi_step_tool = false %}\n"
                    + "        {%- set ns.last_query_index = index %}\n"
                    + "    {%- endif %}\n"
                    + "{%- endfor %}\n"
                    + "{%- for message in messages %}\n"
                    + "    {%- if message.content is string %}\n"
                    + "        {%- set content = message.content %}\n"
                    + "    {%- else %}\n"
                    + "        {%- set content = '' %}\n"
                    + "    {%- endif %}\n"
                    + "    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) %}\n"
                    + "        {{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>' + '\\n' }}\n"
                    + "    {%- elif message.role == \"assistant\" %}\n"
                    + "        {%- set reasoning_content = '' %}\n"
                    + "        {%- if message.reasoning_content is string %}\n"
                    + "            {%- set reasoning_content = message.reasoning_content %}\n"
                    + "        {%- else %}\n"
                    + "            {%- if '</think>' in content %}\n"
                    + "                {%- set reasoning_content = content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}\n"
                    + "                {%- set content = content.split('</think>')[-1].lstrip('\\n') %}\n"
                    + "            {%- endif %}\n"
                    + "        {%- endif %}\n"
                    + "        {%- if loop.index0 > ns.last_query_index %}\n"
                    + "            {%- if loop.last or (not loop.last and reasoning_content) %}\n"
                    + "                {{- '<|im_start|>' + message.role + '\\n<think>\\n' + reasoning_content.strip('\\n') + '\\n</think>\\n\\n' + content.lstrip('\\n') }}\n"
                    + "            {%- else %}\n"
                    + "                {{- '<|im_start|>' + message.role + '\\n' + content }}\n"
                    + "            {%- endif %}\n"
                    + "        {%- else %}\n"
                    + "            {{- '<|im_start|>' + message.role + '\\n' + content }}\n"
                    + "        {%- endif %}\n"
                    + "        {%- if message.tool_calls %}\n"
                    + "            {%- for tool_call in message.tool_calls %}\n"
                    + "                {%- if (loop.first and content) or (not loop.first) %}\n"
                    + "                    {{- '\\n' }}\n"
                    + "                {%- endif %}\n"
                    + "                {%- if tool_call.function %}\n"
                    + "                    {%- set tool_call = tool_call.function %}\n"
                    + "                {%- endif %}\n"
                    + "                {{- '<tool_call>\\n{\"name\": \"' }}\n"
                    + "                {{- tool_call.name }}\n"
                    + "                {{- '\", \"arguments\": ' }}\n"
                    + "                {%- if tool_call.arguments is string %}\n"
                    + "                    {{- tool_call.arguments }}\n"
                    + "                {%- else %}\n"
                    + "                    {{- tool_call.arguments | tojson }}\n"
                    + "                {%- endif %}\n"
                    + "                {{- '}\\n</tool_call>' }}\n"
                    + "            {%- endfor %}\n"
                    + "        {%- endif %}\n"
                    + "        {{- '<|im_end|>\\n' }}\n"
                    + "    {%- elif message.role == \"tool\" %}\n"
                    + "        {%- if loop.first or (messages[loop.index0 - 1].role != \"tool\") %}\n"
                    + "            {{- '<|im_start|>user' }}\n"
                    + "        {%- endif %}\n"
                    + "        {{- '\\n<tool_response>\\n' }}\n"
                    + "        {{- content }}\n"
                    + "        {{- '\\n</tool_response>' }}\n"
                    + "        {%- if loop.last or (messages[loop.index0 + 1].role != \"tool\") %}\n"
                    + "            {{- '<|im_end|>\\n' }}\n"
                    + "        {%- endif %}\n"
                    + "    {%- endif %}\n"
                    + "{%- endfor %}\n"
                    + "{%- if add_generation_prompt %}\n"
                    + "    {{- '<|im_start|>assistant\\n' }}\n"
                    + "    {%- if enable_thinking is defined and enable_thinking is false %}\n"
                    + "        {{- '<think>\\n\\n</think>\\n\\n' }}\n"
                    + "    {%- endif %}\n"
                    + "{%- endif %}"),
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
                    + "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}"),
    /**
     * Gemma 2 / 3 instruct: {@code <start_of_turn>user\n…<end_of_turn>\n} turns, the assistant's role
     * written {@code model}, the system message folded into the first user turn (Gemma 3's template,
     * which raises on roles out of order), {@code <end_of_turn>} ends a turn, {@code <bos>} begins the
     * sequence (SentencePiece-style byte-fallback vocabulary without a dummy prefix, as Gemma's).
     */
    GEMMA(List.of("<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"),
            "<bos>", List.of("<end_of_turn>", "<eos>"), "<pad>",
            "{{ bos_token }}\n"
                    + "{%- if messages[0]['role'] == 'system' -%}\n"
                    + "    {%- if messages[0]['content'] is string -%}\n"
                    + "        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}\n"
                    + "    {%- else -%}\n"
                    + "        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}\n"
                    + "    {%- endif -%}\n"
                    + "    {%- set loop_messages = messages[1:] -%}\n"
                    + "{%- else -%}\n"
                    + "    {%- set first_user_prefix = \"\" -%}\n"
                    + "    {%- set loop_messages = messages -%}\n"
                    + "{%- endif -%}\n"
                    + "{%- for message in loop_messages -%}\n"
                    + "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n"
                    + "        {{ raise_exception(\"Conversation roles must alternate user/assistant/user/assistant/...\") }}\n"
                    + "    {%- endif -%}\n"
                    + "    {%- if (message['role'] == 'assistant') -%}\n"
                    + "        {%- set role = \"model\" -%}\n"
                    + "    {%- else -%}\n"
                    + "        {%- set role = message['role'] -%}\n"
                    + "    {%- endif -%}\n"
                    + "    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else \"\") }}\n"
                    + "    {%- if message['content'] is string -%}\n"
                    + "        {{ message['content'] | trim }}\n"
                    + "    {%- elif message['content'] is iterable -%}\n"
                    + "        {%- for item in message['content'] -%}\n"
                    + "            {%- if item['type'] == 'image' -%}\n"
                    + "                {{ '<start_of_image>' }}\n"
                    + "            {%- elif item['type'] == 'text' -%}\n"
                    + "                {{ item['text'] | trim }}\n"
                    + "            {%- endif -%}\n"
                    + "        {%- endfor -%}\n"
                    + "    {%- else -%}\n"
                    + "        {{ raise_exception(\"Invalid content type\") }}\n"
                    + "    {%- endif -%}\n"
                    + "    {{ '<end_of_turn>\\n' }}\n"
                    + "{%- endfor -%}\n"
                    + "{%- if add_generation_prompt -%}\n"
                    + "    {{'<start_of_turn>model\\n'}}\n"
                    + "{%- endif -%}\n");

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

    /** ChatML's conventions (Qwen2 and Qwen3): its pre-tokenizer, NFC normalizer and tokenizer class. */
    public boolean chatml() {
        return this == CHATML || this == QWEN3;
    }

    /** Gemma's conventions: a byte-fallback vocabulary whose normalizer adds no dummy prefix, so none is stripped. */
    public boolean gemma() {
        return this == GEMMA;
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
