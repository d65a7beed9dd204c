package io.loraplex.engine.request;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.loraplex.engine.ServedModel;
import io.loraplex.engine.model.Architecture;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.TinyModel;
import io.loraplex.engine.request.RequestRefusal.Code;
import io.loraplex.engine.tokenizer.ChatMessage;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A template's {@code raise_exception} reaches the client in the template's words, without the server's path. */
class ChatTemplateRefusalTest {

    @Test
    void aRaisedTemplateErrorNamesMessagesAndNotTheFileItCameFrom(@TempDir Path dir) throws Exception {
        Path modelDir = dir.resolve("secret-model-dir");
        // Mistral's generated model carries Llama 2's template, which raises when roles do not alternate
        TinyModel.write(modelDir, new TinyModel.Spec(Architecture.MISTRAL, 64, 2, 4, 2, null, 160, 1024, DType.F32, null, null, 2048,
                null, 0, null, null, 1, 5));
        try (ServedModel model = ServedModel.load(modelDir, "tiny")) {
            RequestPreparation preparation = RequestPreparation.of(model, 20);
            RequestRefusal r = assertThrows(RequestRefusal.class, () -> preparation.prepare(new Prompt.Chat(
                    List.of(new ChatMessage("assistant", "hi"), new ChatMessage("user", "x")), null), RequestParams.defaults()));
            assertEquals(Code.INVALID_VALUE, r.code());
            assertEquals("messages", r.param());
            assertEquals("the chat template refused the messages: Conversation roles must alternate user/assistant/user/assistant/...",
                    r.getMessage());
        }
    }
}
