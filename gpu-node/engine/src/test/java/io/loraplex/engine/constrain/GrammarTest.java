package io.loraplex.engine.constrain;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The schema compiler and the character grammar against an independent reference: documents drawn
 * from random schemas (valid by the networknt validator) are accepted; a mutated document the
 * grammar accepts is valid JSON that the validator accepts too; unsupported keywords are refused by name.
 */
class GrammarTest {

    static final int SCHEMAS = 300;
    static final int DOCUMENTS = 20;

    static Grammar.State walk(Node root, String text) {
        Grammar.State s = Grammar.start(root);
        for (int i = 0; i < text.length() && !s.dead(); i++) {
            s = s.step(text.charAt(i));
        }
        return s;
    }

    static boolean accepts(Node root, String text) {
        Grammar.State s = walk(root, text);
        return !s.dead() && s.accepting();
    }

    @Test
    void documentsDrawnFromRandomSchemasAreAcceptedAndMutationsOnlyWhenStillValid() throws Exception {
        SplittableRandom random = new SplittableRandom(19);
        int mutantsAccepted = 0;
        int mutantsRejected = 0;
        for (int n = 0; n < SCHEMAS; n++) {
            ObjectNode schema = RandomSchemas.schema(random, n % 2 == 0, true);
            Node root = SchemaCompiler.compile(RandomSchemas.compact(schema));
            for (int d = 0; d < DOCUMENTS; d++) {
                JsonNode doc = RandomSchemas.document(schema, schema, random);
                assertTrue(RandomSchemas.errors(schema, doc).isEmpty(), "the generator drew an invalid document " + doc);
                String text = RandomSchemas.compact(doc);
                assertTrue(accepts(root, text), "schema " + schema + " refused the valid document " + text);
                // every proper prefix is a live prefix: never dead before the end
                assertFalse(walk(root, text.substring(0, text.length() - 1)).dead());

                String mutant = mutate(text, random);
                if (accepts(root, mutant)) {
                    JsonNode parsed = RandomSchemas.JSON.readTree(mutant); // throws on JSON the grammar should not have taken
                    assertTrue(RandomSchemas.errors(schema, parsed).isEmpty(),
                            "schema " + schema + " accepted the invalid mutant " + mutant + " of " + text);
                    mutantsAccepted++;
                } else {
                    mutantsRejected++;
                }
            }
        }
        assertTrue(mutantsRejected > SCHEMAS * DOCUMENTS / 2, "most mutants are invalid: " + mutantsRejected + " rejected, "
                + mutantsAccepted + " accepted");
    }

    private static String mutate(String text, SplittableRandom r) {
        String alphabet = "{}[]\",:0123456789.-eE truefalsnl\\ab";
        int at = r.nextInt(text.length());
        char c = alphabet.charAt(r.nextInt(alphabet.length()));
        return switch (r.nextInt(3)) {
            case 0 -> text.substring(0, at) + text.substring(at + 1);
            case 1 -> text.substring(0, at) + c + text.substring(at);
            default -> text.substring(0, at) + c + text.substring(at + 1);
        };
    }

    @Test
    void aJsonObjectIsAnyObjectAndNothingElse() {
        Node root = SchemaCompiler.anyObject();
        assertTrue(accepts(root, "{}"));
        assertTrue(accepts(root, "{\"a\":[1,-2.5e3,{\"b\":null}],\"c\":\"x\\\"y\\u00e9\",\"d\":true}"));
        assertFalse(accepts(root, "[1]"));
        assertFalse(accepts(root, "\"text\""));
        assertTrue(walk(root, "{\"a\":01").dead(), "a leading zero is no JSON number");
        assertTrue(walk(root, "{\"a\":1").accepting() == false);
    }

    @Test
    void aCompleteObjectIsFinishedWhileATopLevelNumberMayGoOn() {
        Node object = SchemaCompiler.compile("{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\"}},\"required\":[\"n\"]}");
        assertTrue(walk(object, "{\"n\":12}").finished());
        Node number = SchemaCompiler.compile("{\"type\":\"number\"}");
        Grammar.State s = walk(number, "12");
        assertTrue(s.accepting());
        assertFalse(s.finished());
    }

    @Test
    void everyNumberTheGrammarTakesIsAFiniteDouble() {
        Node number = SchemaCompiler.compile("{\"type\":\"number\"}");
        // the longest of each part: 20 digits, 20 decimals, a two-digit exponent (three when negative)
        String largest = "9".repeat(20) + "." + "9".repeat(20) + "e+99";
        assertTrue(walk(number, largest).accepting());
        assertTrue(Double.isFinite(Double.parseDouble(largest)), largest);
        assertTrue(walk(number, "-1.5E-300").accepting(), "a tiny number underflows to zero, never to infinity");
        assertTrue(walk(number, "1e999").dead(), "1e999 would read as Infinity");
        assertTrue(walk(number, "1e+999").dead());
        assertTrue(walk(number, "1e-9999").dead());
    }

    @Test
    void recursiveDefinitionsAreSupported() {
        Node root = SchemaCompiler.compile("{\"$defs\":{\"tree\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},"
                + "\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/tree\"}}},\"required\":[\"v\",\"kids\"],"
                + "\"additionalProperties\":false}},\"$ref\":\"#/$defs/tree\"}");
        assertTrue(accepts(root, "{\"v\":1,\"kids\":[{\"v\":2,\"kids\":[]},{\"v\":3,\"kids\":[{\"v\":4,\"kids\":[]}]}]}"));
        assertFalse(accepts(root, "{\"v\":1,\"kids\":[{\"v\":2}]}"));
    }

    @Test
    void unsupportedKeywordsAreRefusedByName() {
        assertRefused("{\"type\":\"string\",\"minLength\":3}", "minLength");
        assertRefused("{\"type\":\"string\",\"format\":\"email\"}", "format");
        assertRefused("{\"oneOf\":[{\"type\":\"string\"}]}", "oneOf");
        assertRefused("{\"allOf\":[{\"type\":\"string\"}]}", "allOf");
        assertRefused("{\"type\":\"number\",\"minimum\":0}", "minimum");
        assertRefused("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},\"additionalProperties\":true}",
                "additionalProperties");
        assertRefused("{\"$ref\":\"https://example.com/s.json\"}", "$ref");
        assertRefused("{\"type\":\"string\",\"pattern\":\"^(?=a)\"}", "pattern");
        assertRefused("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"maxLength\":2}}}", "maxLength");
        ConstraintException e = assertThrows(ConstraintException.class,
                () -> SchemaCompiler.compile("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"maxLength\":2}}}"));
        assertTrue(e.getMessage().contains("$.properties.a"), "the message says where: " + e.getMessage());
    }

    @Test
    void aSchemaPartWithNoFiniteDocumentIsRefusedNamingWhereItIs() {
        assertNoFiniteDocument("{\"$ref\":\"#/$defs/a\",\"$defs\":{\"a\":{\"$ref\":\"#/$defs/a\"}}}", "$.$defs.a");
        assertNoFiniteDocument("{\"$ref\":\"#/$defs/a\",\"$defs\":{\"a\":{\"anyOf\":[{\"$ref\":\"#/$defs/b\"}]},"
                + "\"b\":{\"$ref\":\"#/$defs/a\"}}}", "$.$defs.a");
        // reached inside a property, a definition is named by its own place
        assertNoFiniteDocument("{\"type\":\"object\",\"properties\":{\"p\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/a\"}}},"
                + "\"additionalProperties\":false,\"$defs\":{\"a\":{\"anyOf\":[{\"$ref\":\"#/$defs/a\"}]}}}", "$.$defs.a");
        // a call schema as the router builds it for tools: the definition at fault is named, not the call around it
        assertNoFiniteDocument("{\"anyOf\":[{\"$ref\":\"#/$defs/f0\"},{\"type\":\"object\",\"properties\":{\"arguments\":"
                + "{\"$ref\":\"#/$defs/f1\"}},\"required\":[\"arguments\"],\"additionalProperties\":false}],\"$defs\":{"
                + "\"f0\":{\"type\":\"string\"},\"f1\":{\"type\":\"object\",\"properties\":{\"x\":{\"$ref\":\"#/$defs/f1\"}},"
                + "\"required\":[\"x\"],\"additionalProperties\":false}}}", "$.$defs.f1");
        // a required property that is the whole schema again: {"a": {"a": {...}}} never closes
        assertNoFiniteDocument("{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#\"}},\"required\":[\"a\"],"
                + "\"additionalProperties\":false}", "$");
        // an array that needs an item of itself
        assertNoFiniteDocument("{\"type\":\"array\",\"items\":{\"$ref\":\"#\"},\"minItems\":1}", "$");
        // recursion with a way out is fine: optional, an empty array, another anyOf branch
        SchemaCompiler.compile("{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#\"}},\"additionalProperties\":false}");
        SchemaCompiler.compile("{\"type\":\"object\",\"properties\":{\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}},"
                + "\"required\":[\"kids\"],\"additionalProperties\":false}");
        SchemaCompiler.compile("{\"$ref\":\"#/$defs/t\",\"$defs\":{\"t\":{\"anyOf\":[{\"type\":\"string\"},"
                + "{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/t\"},\"minItems\":1}]}}}");
    }

    private static void assertNoFiniteDocument(String schema, String where) {
        ConstraintException e = assertThrows(ConstraintException.class, () -> SchemaCompiler.compile(schema));
        assertEquals("$ref", e.keyword());
        assertEquals("the schema at " + where + " admits no finite JSON document: every way through it leads back into a $ref",
                e.getMessage());
    }

    private static void assertRefused(String schema, String keyword) {
        ConstraintException e = assertThrows(ConstraintException.class, () -> SchemaCompiler.compile(schema));
        assertEquals(keyword, e.keyword());
        assertTrue(e.getMessage().contains(keyword), e.getMessage());
    }
}
