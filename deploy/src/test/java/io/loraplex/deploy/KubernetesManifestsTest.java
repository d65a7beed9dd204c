package io.loraplex.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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

    /** The manifests, beside this module's pom (surefire runs in the module's directory, before the distribution exists). */
    private static final Path DIR = Path.of("k8s").toAbsolutePath();
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

    @Test
    void prometheusScrapesTheRoutersMetricsOnTheManagementPort() throws IOException {
        JsonNode template = byKindAndName(documents()).get("Deployment/loraplex-router").path("spec").path("template");
        JsonNode annotations = template.path("metadata").path("annotations");
        assertEquals("true", annotations.path("prometheus.io/scrape").asText());
        assertEquals("/metrics", annotations.path("prometheus.io/path").asText());
        // the management port (pod network only), not the API's, where /metrics needs the metrics key
        int management = template.path("spec").path("containers").get(0).path("ports").valueStream()
                .filter(p -> p.path("name").asText().equals("management")).findFirst().orElseThrow().path("containerPort").asInt();
        assertEquals(String.valueOf(management), annotations.path("prometheus.io/port").asText());
    }

    @Test
    void servicesSelectTheirWorkloadsPods() throws IOException {
        Map<String, JsonNode> all = byKindAndName(documents());
        JsonNode router = all.get("Deployment/loraplex-router").path("spec").path("template");
        JsonNode gpu = all.get("StatefulSet/loraplex-gpu").path("spec").path("template");
        assertSelects(all.get("Service/loraplex"), router);
        assertSelects(all.get("Service/loraplex-gpu"), gpu);
        JsonNode http = all.get("Service/loraplex").path("spec").path("ports").get(0);
        assertEquals(80, http.path("port").asInt());
        assertEquals(8080, containerPort(router.path("spec").path("containers").get(0), http.path("targetPort").asText()));
        assertEquals("None", all.get("Service/loraplex-gpu").path("spec").path("clusterIP").asText(), "the GPU nodes' Service is headless");
        assertEquals("loraplex-gpu", all.get("StatefulSet/loraplex-gpu").path("spec").path("serviceName").asText());
    }

    @Test
    void gpuNodesKeepTheirDataOnAClaimAndRoutersTheirKeyInASecret() throws IOException {
        Map<String, JsonNode> all = byKindAndName(documents());
        JsonNode gpuSpec = all.get("StatefulSet/loraplex-gpu").path("spec");
        String claim = gpuSpec.path("volumeClaimTemplates").get(0).path("metadata").path("name").asText();
        JsonNode gpu = gpuSpec.path("template").path("spec").path("containers").get(0);
        String data = argAfter(gpu, "--data");
        assertTrue(gpu.path("volumeMounts").valueStream().anyMatch(m -> m.path("name").asText().equals(claim)
                && m.path("mountPath").asText().equals(data)), "the claim " + claim + " is mounted at --data " + data);
        JsonNode router = all.get("Deployment/loraplex-router").path("spec").path("template").path("spec").path("containers").get(0);
        assertEquals("cassandra", argAfter(router, "--journal"));
        JsonNode key = router.path("env").valueStream().filter(e -> e.path("name").asText().equals("LORAPLEX_ADMIN_KEY")).findFirst()
                .orElseThrow(() -> new AssertionError("the router has no LORAPLEX_ADMIN_KEY"));
        assertEquals("loraplex-admin", key.path("valueFrom").path("secretKeyRef").path("name").asText());
        JsonNode config = all.get("ConfigMap/loraplex-config").path("data");
        assertEquals("loraplex", config.path("LORAPLEX_SERVICE_NAME").asText(), "bootstrap selects app.kubernetes.io/part-of=<service name>");
    }

    @Test
    void theRoleIsBoundToThePodsServiceAccountInOneNamespace() throws IOException {
        List<JsonNode> docs = documents();
        for (JsonNode d : docs) {
            if (!d.path("kind").asText().equals("Namespace")) {
                assertEquals("loraplex", d.path("metadata").path("namespace").asText(), d.path("kind") + " " + d.path("metadata").path("name"));
            }
        }
        JsonNode binding = byKindAndName(docs).get("RoleBinding/loraplex-pod-reader");
        assertEquals("Role", binding.path("roleRef").path("kind").asText());
        assertEquals("loraplex-pod-reader", binding.path("roleRef").path("name").asText());
        JsonNode subject = binding.path("subjects").get(0);
        assertEquals("ServiceAccount", subject.path("kind").asText());
        assertEquals("loraplex", subject.path("name").asText());
    }

    private static void assertSelects(JsonNode service, JsonNode podTemplate) {
        JsonNode labels = podTemplate.path("metadata").path("labels");
        assertFalse(service.path("spec").path("selector").isEmpty(), "an empty selector");
        service.path("spec").path("selector").properties().forEach(e -> assertEquals(e.getValue().asText(), labels.path(e.getKey()).asText(),
                service.path("metadata").path("name").asText() + " selector " + e.getKey()));
    }

    private static int containerPort(JsonNode container, String name) {
        return container.path("ports").valueStream().filter(p -> p.path("name").asText().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no container port named " + name)).path("containerPort").asInt();
    }

    private static String argAfter(JsonNode container, String flag) {
        List<String> args = container.path("args").valueStream().map(JsonNode::asText).toList();
        int i = args.indexOf(flag);
        assertTrue(i >= 0 && i + 1 < args.size(), flag + " in " + args);
        return args.get(i + 1);
    }
}
