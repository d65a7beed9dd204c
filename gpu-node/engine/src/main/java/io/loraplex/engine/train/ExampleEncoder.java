package io.loraplex.engine.train;

import io.loraplex.engine.tokenizer.ChatMessage;
import io.loraplex.engine.tokenizer.ChatTemplate;
import io.loraplex.engine.tokenizer.ChatTemplateException;
import io.loraplex.engine.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.List;

/**
 * Turns a conversation into tokens and a loss mask with the base model's chat template, applied as
 * serving applies it: the prompt before each assistant turn is the template's rendering of the
 * messages so far with the generation prompt (what serving would feed), and the turn itself is
 * what the rendering through that message adds (its text, as the template trims or wraps it, and
 * its end-of-turn token). Each piece is tokenized on its own, so the prompt tokens are exactly the
 * ones serving sees, and only the assistant's pieces carry the loss.
 */
public final class ExampleEncoder {

    private final ChatTemplate template;
    private final Tokenizer tokenizer;

    public ExampleEncoder(ChatTemplate template, Tokenizer tokenizer) {
        this.template = template;
        this.tokenizer = tokenizer;
    }

    /** Tokens and mask of one example; IllegalArgumentException when the template refuses it. */
    public EncodedExample encode(Dataset.Example example) {
        List<ChatMessage> messages = example.messages();
        List<Integer> tokens = new ArrayList<>();
        List<Boolean> target = new ArrayList<>();
        String rendered = "";
        for (int i = 0; i < messages.size(); i++) {
            if (!messages.get(i).role().equals("assistant")) {
                continue;
            }
            String prompt = render(messages.subList(0, i), true);
            rendered = append(rendered, prompt, false, tokens, target);
            String turn = render(messages.subList(0, i + 1), false);
            rendered = append(rendered, turn, true, tokens, target);
        }
        int[] ids = new int[tokens.size()];
        boolean[] mask = new boolean[tokens.size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = tokens.get(i);
            mask[i] = target.get(i);
        }
        return new EncodedExample(example.line(), ids, mask);
    }

    private String render(List<ChatMessage> messages, boolean generationPrompt) {
        try {
            return template.render(messages, generationPrompt);
        } catch (ChatTemplateException e) {
            throw new IllegalArgumentException("the chat template refuses the example: " + e.getMessage());
        }
    }

    /** Tokenizes what {@code next} adds to {@code rendered}; returns {@code next}. */
    private String append(String rendered, String next, boolean isTarget, List<Integer> tokens, List<Boolean> target) {
        if (!next.startsWith(rendered)) {
            throw new IllegalArgumentException("the chat template renders a conversation's start differently once more "
                    + "messages follow, so the assistant's tokens cannot be told apart");
        }
        for (int id : tokenizer.encode(next.substring(rendered.length()), false)) {
            tokens.add(id);
            target.add(isTarget);
        }
        return next;
    }
}
