package io.loraplex.engine.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.engine.lora.AdapterLoader;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.TinyModel;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code loraplex train} end to end on the tiny model, and its refusals. */
class TrainCommandTest {

    @TempDir
    Path dir;

    private record Run(int status, String out, String err) {
    }

    private static Run run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = EngineCli.run("train", args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void trainsAndWritesAPeftAdapter() throws Exception {
        ModelConfig cfg = TinyModel.write(dir.resolve("model"), TinyModel.Spec.defaults(2)).config();
        StringBuilder data = new StringBuilder();
        for (int i = 0; i < 6; i++) {
            data.append("{\"instruction\": \"Question ").append(i).append("?\", \"output\": \"Answer ").append(i).append(".\"}\n");
        }
        Files.writeString(dir.resolve("data.jsonl"), data);
        Path out = dir.resolve("adapter");
        Run r = run("--model", dir.resolve("model").toString(), "--data", dir.resolve("data.jsonl").toString(), "--out",
                out.toString(), "--epochs", "2", "--rank", "4", "--alpha", "8", "--targets", "all-linear", "--rslora", "--weight-decay", "0.01",
                "--early-stop", "--seed", "3");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.err().contains("warning: " + dir.resolve("data.jsonl") + ": only 6 examples"), r.err());
        assertTrue(r.err().contains("step 1/4 epoch 1/2 loss "), r.err());
        assertTrue(r.err().contains("epoch 2/2: training loss "), r.err());
        assertTrue(r.out().matches("(?s)wrote .* \\(content hash [0-9a-f]{64}\\)\\nfinal training loss \\d+\\.\\d{4} over 5 examples; "
                + "validation loss \\d+\\.\\d{4} over 1 examples\\n.*"), r.out());
        for (String file : new String[] {"adapter_config.json", "adapter_model.safetensors", "training.json"}) {
            assertTrue(Files.exists(out.resolve(file)), file);
        }
        String config = Files.readString(out.resolve("adapter_config.json"));
        assertTrue(config.contains("\"use_rslora\" : true"), config);
        assertTrue(config.contains("\"down_proj\""), config);
        var loaded = new AdapterLoader(cfg, 64).load("a", out);
        for (var m : io.loraplex.engine.lora.TargetModule.values()) {
            assertEquals(4, loaded.weights(0, m).rank(), m + " adapted with rank 4");
        }
        assertEquals(4.0f, loaded.weights(0, io.loraplex.engine.lora.TargetModule.Q_PROJ).scale(), "rsLoRA: 8 / sqrt(4), not 8 / 4");
        assertTrue(Files.readString(out.resolve("training.json")).contains("\"targets\" : \"all-linear\""));
    }

    @Test
    void severalDatasetsTrainOneAdapterEachInOneJobWithAManifest() throws Exception {
        TinyModel.write(dir.resolve("model"), TinyModel.Spec.defaults(2));
        for (String name : new String[] {"cafe", "bakery"}) {
            StringBuilder data = new StringBuilder();
            for (int i = 0; i < 4; i++) {
                data.append("{\"instruction\": \"").append(name).append(" question ").append(i)
                        .append("?\", \"output\": \"Answer ").append(i).append(".\"}\n");
            }
            Files.writeString(dir.resolve(name + ".jsonl"), data);
        }
        Path out = dir.resolve("adapters");
        Run r = run("--model", dir.resolve("model").toString(), "--data", dir.resolve("cafe.jsonl").toString(), "--data",
                dir.resolve("bakery.jsonl").toString(), "--out", out.toString(), "--epochs", "1", "--rank", "2", "--seed", "3");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.err().contains("train: 2 adapters in one job"), r.err());
        assertTrue(r.err().contains("train: cafe: [") && r.err().contains("train: bakery: ["), r.err());
        for (String name : new String[] {"cafe", "bakery"}) {
            for (String file : new String[] {"adapter_config.json", "adapter_model.safetensors", "training.json"}) {
                assertTrue(Files.exists(out.resolve(name).resolve(file)), name + "/" + file);
            }
            assertTrue(r.out().contains("wrote " + out.resolve(name) + " (content hash "), r.out());
        }
        var manifest = new com.fasterxml.jackson.databind.ObjectMapper().readTree(out.resolve("manifest.json").toFile()).get("adapters");
        assertEquals(2, manifest.size());
        assertEquals("cafe", manifest.get(0).get("adapter").asText());
        assertEquals(dir.resolve("bakery.jsonl").toString(), manifest.get(1).get("data").asText());
        assertTrue(manifest.get(1).get("content_hash").asText().matches("[0-9a-f]{64}"), manifest.toString());
    }

    @Test
    void refusesTwoDatasetsThatWouldWriteTheSameAdapterDirectory() throws Exception {
        Files.createDirectories(dir.resolve("x"));
        Files.writeString(dir.resolve("a.jsonl"), "{\"instruction\": \"a\", \"output\": \"b\"}\n");
        Files.writeString(dir.resolve("x").resolve("a.jsonl"), "{\"instruction\": \"a\", \"output\": \"b\"}\n");
        Run r = run("--model", dir.toString(), "--data", dir.resolve("a.jsonl").toString(), "--data",
                dir.resolve("x").resolve("a.jsonl").toString(), "--out", dir.resolve("out").toString());
        assertEquals(2, r.status());
        assertTrue(r.err().contains("--data: " + dir.resolve("a.jsonl") + " and " + dir.resolve("x").resolve("a.jsonl")
                + " would both write " + dir.resolve("out").resolve("a") + "; give the datasets different file names"), r.err());
        Run none = run("--model", dir.toString(), "--out", dir.resolve("out").toString());
        assertEquals(2, none.status());
        assertTrue(none.err().contains("--data is required"), none.err());
    }

    @Test
    void refusesABadDatasetWithItsLines() throws Exception {
        TinyModel.write(dir.resolve("model"), TinyModel.Spec.defaults(2));
        Files.writeString(dir.resolve("bad.jsonl"), "{\"instruction\": \"a\", \"output\": \"b\"}\n{oops\n"
                + "{\"messages\": [{\"role\": \"narrator\", \"content\": \"x\"}]}\n");
        Run r = run("--model", dir.resolve("model").toString(), "--data", dir.resolve("bad.jsonl").toString(), "--out",
                dir.resolve("adapter").toString());
        assertEquals(2, r.status());
        assertTrue(r.err().contains("2 problems"), r.err());
        assertTrue(r.err().contains("line 2: bad JSON"), r.err());
        assertTrue(r.err().contains("line 3: message 1 has unknown role \"narrator\""), r.err());
        assertTrue(!Files.exists(dir.resolve("adapter")));
    }

    @Test
    void refusesBadFlags() throws Exception {
        assertTrue(run("--help").out().contains("--targets TARGETS"));
        Run r = run("--model", dir.toString(), "--data", dir.resolve("none.jsonl").toString(), "--out", dir.toString(),
                "--targets", "q_proj,lm_head");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("--targets: unknown module 'lm_head'"), r.err());
    }
}
