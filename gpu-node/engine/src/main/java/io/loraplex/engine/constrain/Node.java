package io.loraplex.engine.constrain;

import java.util.List;

/**
 * A compiled schema: what one JSON value may be. Nodes compare by identity (a {@code $ref} may make
 * the graph cyclic), and the {@link Grammar}'s states hold them, so a state of one compiled schema
 * never equals a state of another.
 */
sealed interface Node {

    /** Any JSON value ({@code {}} as a schema, the values of a {@code json_object}). */
    final class AnyValue implements Node {
        static final AnyValue INSTANCE = new AnyValue();
    }

    /** An object: {@code properties} in their declared order, each required or not; no other keys. */
    final class ObjectNode implements Node {
        final List<Property> properties;

        ObjectNode(List<Property> properties) {
            this.properties = properties;
        }
    }

    /** An object with any keys and values (json_object; a schema of {@code "type": "object"} without properties). */
    final class AnyObject implements Node {
        static final AnyObject INSTANCE = new AnyObject();
    }

    /** One property of an {@link ObjectNode}; {@code keyText} is {@code "name":} as JSON, ready to match. */
    record Property(String name, String keyText, Ref value, boolean required) {
    }

    /** An array of {@code items}, with at least {@code minItems} and at most {@code maxItems} (-1: no limit). */
    final class ArrayNode implements Node {
        final Ref items;
        final int minItems;
        final int maxItems;

        ArrayNode(Ref items, int minItems, int maxItems) {
            this.items = items;
            this.minItems = minItems;
            this.maxItems = maxItems;
        }
    }

    /** A string whose (unescaped) content matches {@code pattern}; null: any string. */
    final class StringNode implements Node {
        final Regex pattern;

        StringNode(Regex pattern) {
            this.pattern = pattern;
        }
    }

    /** A JSON number; {@code integer}: no fraction and no exponent. */
    final class NumberNode implements Node {
        static final NumberNode NUMBER = new NumberNode(false);
        static final NumberNode INTEGER = new NumberNode(true);
        final boolean integer;

        private NumberNode(boolean integer) {
            this.integer = integer;
        }
    }

    /** Exactly one of these JSON texts (enum, const, true, false, null), written compactly. */
    final class Literals implements Node {
        final List<String> texts;

        Literals(List<String> texts) {
            this.texts = texts;
        }
    }

    /** Any of these (anyOf, a list of types). */
    final class AnyOf implements Node {
        final List<Ref> options;

        AnyOf(List<Ref> options) {
            this.options = options;
        }
    }

    /**
     * A node that may not be compiled yet ({@code $ref} to a definition being compiled, which makes
     * recursive schemas possible); resolved before any matching starts.
     */
    final class Ref {
        Node node;

        Ref(Node node) {
            this.node = node;
        }

        Node get() {
            return node;
        }
    }
}
