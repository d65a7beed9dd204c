/**
 * Constrained decoding: a request's output kept, token by token, a valid prefix of the JSON a schema
 * describes. {@link io.loraplex.engine.constrain.SchemaCompiler} turns OpenAI's strict-mode JSON
 * schema subset into {@link io.loraplex.engine.constrain.Node}s (refusing any other keyword by name);
 * {@link io.loraplex.engine.constrain.Grammar} walks characters through them as a set of immutable
 * stacks; {@link io.loraplex.engine.constrain.TokenConstraint} lifts that to tokens of one tokenizer
 * with a trie over the vocabulary and a mask cached per state; a
 * {@link io.loraplex.engine.constrain.ConstraintState} is one request's position in it.
 */
package io.loraplex.engine.constrain;
