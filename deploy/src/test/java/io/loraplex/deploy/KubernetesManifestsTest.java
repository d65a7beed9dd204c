package io.loraplex.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The Kubernetes manifests of {@code deploy/k8s} hang together: every document parses, selectors
 * select their own pods, probes hit Pekko Management's {@code /ready} and {@code /alive}, the pods run
 * {@code serve} with their role and Kubernetes bootstrap, and the bootstrap may list pods.
 */
class KubernetesManifestsTest {

    private static final Path DIR = Launcher.repoRoot().resolve("deploy/k8s");
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    static List<JsonNode> documents() throws IOException {
        List<JsonNode> docs = new ArrayList<>();
        try (Stream<Path> files = Files.list(DIR)) {
            for (Path file : files.filter(f -> f.toString().endsWith(".yaml")).sorted().toList()) {
                try (YAMLParser parser = new YAMLFactory().createParser(file.toFile())) {
                    for (JsonNode doc : YAML.readValues(parser, JsonNode.class).readAll()) {
                        if (doc != null && !doc.isMissingNode() && !doc.isNull()) {
                            docs.add(doc);
                        }
                    }
                }
            }
        }
        return docs;
    }

    private static Map<String, JsonNode> byKindAndName(List<JsonNode> docs) {
        Map<String, JsonNode> out = new HashMap<>();
        for (JsonNode d : docs) {
            assertTrue(d.has("apiVersion") && d.has("kind") && d.path("metadata").has("name"), "incomplete document: " + d);
            out.put(d.get("kind").asText() + "/" + d.path("metadata").path("name").asText(), d);
        }
        return out;
    }

    @Test
    void theClusterShapeIsThere() throws IOException {
        Map<String, JsonNode> all = byKindAndName(documents());
        for (String needed : List.of("Namespace/loraplex", "ServiceAccount/loraplex", "Role/loraplex-pod-reader",
                "RoleBinding/loraplex-pod-reader", "ConfigMap/loraplex-config", "Deployment/loraplex-router", "Service/loraplex",
                "StatefulSet/loraplex-gpu", "Service/loraplex-gpu")) {
            assertTrue(all.containsKey(needed), "missing " + needed + " in " + all.keySet());
        }
        JsonNode rule = all.get("Role/loraplex-pod-reader").path("rules").get(0);
        assertEquals("pods", rule.path("resources").get(0).asText());
        List<String> verbs = rule.path("verbs").valueStream().map(JsonNode::asText).toList();
        assertTrue(verbs.containsAll(List.of("get", "watch", "list")), verbs.toString());
    }

    @Test
    void workloadsRunTheirRoleWithBootstrapAndManagementProbes() throws IOException {
        Map<String, JsonNode> all = byKindAndName(documents());
        for (String[] w : new String[][] {{"Deployment/loraplex-router", "router"}, {"StatefulSet/loraplex-gpu", "gpu-node"}}) {
            JsonNode spec = all.get(w[0]).path("spec");
            JsonNode podLabels = spec.path("template").path("metadata").path("labels");
            spec.path("selector").path("matchLabels").properties().forEach(e ->
                    assertEquals(e.getValue().asText(), podLabels.path(e.getKey()).asText(), w[0] + " selector " + e.getKey()));
            assertEquals("loraplex", podLabels.path("app.kubernetes.io/part-of").asText(), "the bootstrap's label selector");
            JsonNode container = spec.path("template").path("spec").path("containers").get(0);
            String args = String.join(" ", container.path("args").valueStream().map(JsonNode::asText).toList());
            assertTrue(args.startsWith("serve --roles " + w[1]), args);
            assertTrue(args.contains("--bootstrap kubernetes") && args.contains("--management-port 8558"), args);
            int management = -1;
            for (JsonNode port : container.path("ports")) {
                if (port.path("name").asText().equals("management")) {
                    management = port.path("containerPort").asInt();
                }
            }
            assertEquals(8558, management);
            assertEquals("/ready", container.path("readinessProbe").path("httpGet").path("path").asText());
            assertEquals("/alive", container.path("livenessProbe").path("httpGet").path("path").asText());
            assertEquals("management", container.path("readinessProbe").path("httpGet").path("port").asText());
            assertEquals("loraplex", spec.path("template").path("spec").path("serviceAccountName").asText());
            boolean podIp = container.path("env").valueStream().anyMatch(e -> e.path("name").asText().equals("LORAPLEX_CLUSTER_HOST")
                    && e.path("valueFrom").path("fieldRef").path("fieldPath").asText().equals("status.podIP"));
            assertTrue(podIp, w[0] + " tells the JVM its pod IP");
        }
        JsonNode gpu = all.get("StatefulSet/loraplex-gpu").path("spec").path("template").path("spec").path("containers").get(0);
        assertEquals(1, gpu.path("resources").path("limits").path("nvidia.com/gpu").asInt());
        for (String service : List.of("Service/loraplex", "Service/loraplex-gpu")) {
            JsonNode selector = all.get(service).path("spec").path("selector");
            String component = selector.path("app.kubernetes.io/component").asText();
            assertTrue(component.equals("router") || component.equals("gpu-node"), service + " selects a workload");
        }
    }
}
