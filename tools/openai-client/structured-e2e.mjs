// Structured outputs and tool calls with the official openai client against a real loraplex engine.
// Usage: LORAPLEX_URL=http://127.0.0.1:PORT/v1 LORAPLEX_KEY=... LORAPLEX_MODELS=cafe,shop-1,... \
//        [SCHEMAS=48] [SEED=1] node structured-e2e.mjs
// Every answer is checked here with Ajv (a JSON-schema validator, not the engine's code); prints one JSON
// object with what it saw, and exits 1 naming each failure. The Java test (StructuredOutputsIT) runs it.
import OpenAI from 'openai';
import Ajv from 'ajv';

const client = new OpenAI({ baseURL: process.env.LORAPLEX_URL, apiKey: process.env.LORAPLEX_KEY, maxRetries: 0, timeout: 600_000 });
const models = process.env.LORAPLEX_MODELS.split(',');
const schemaCount = Number(process.env.SCHEMAS ?? 48);
const random = mulberry32(Number(process.env.SEED ?? 1));
const failures = [];
const out = {};

function fail(what) {
  failures.push(what);
}

// --- random schemas of the strict-mode subset ---

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const pick = (list) => list[Math.floor(random() * list.length)];
const WORDS = ['name', 'city', 'count', 'price', 'open', 'tags', 'kind', 'owner', 'size', 'note', 'when', 'score', 'items', 'code',
  'level', 'color', 'ok', 'ratio', 'parent', 'label'];
const PATTERNS = ['^[a-z]{1,8}$', '^[0-9]{3}-[0-9]{4}$', '^(yes|no|maybe)$', '^[A-Z][a-z]{0,5}$', '^#[0-9a-f]{6}$', '^v[0-9]+\\.[0-9]+$'];

function leaf(depth, defs) {
  switch (pick(['string', 'enum', 'pattern', 'integer', 'number', 'boolean', 'null', 'array', 'object', 'anyOf', 'ref', 'const'])) {
    case 'string': return { type: 'string', description: 'free text' };
    case 'enum': return { type: 'string', enum: ['red', 'green', 'blue', 'large', 'small'].slice(0, 2 + Math.floor(random() * 4)) };
    case 'pattern': return { type: 'string', pattern: pick(PATTERNS) };
    case 'integer': return { type: 'integer' };
    case 'number': return { type: 'number' };
    case 'boolean': return { type: 'boolean' };
    case 'null': return { type: 'null' };
    case 'const': return { const: pick(['fixed', 42, true]) };
    case 'array': {
      const min = Math.floor(random() * 2);
      return { type: 'array', items: depth < 2 ? leaf(depth + 1, defs) : { type: 'integer' }, minItems: min, maxItems: min + 1 + Math.floor(random() * 3) };
    }
    case 'object': return depth < 2 ? object(depth + 1, defs, 1 + Math.floor(random() * 3)) : { type: 'boolean' };
    case 'anyOf': return { anyOf: [{ type: 'null' }, depth < 2 ? leaf(depth + 1, defs) : { type: 'string', enum: ['a', 'b'] }] };
    case 'ref': {
      if (!defs.point) {
        defs.point = { type: 'object', properties: { x: { type: 'integer' }, y: { type: 'integer' } }, required: ['x', 'y'], additionalProperties: false };
      }
      return { $ref: '#/$defs/point' };
    }
  }
}

function object(depth, defs, size) {
  const properties = {};
  while (Object.keys(properties).length < size) {
    properties[pick(WORDS) + (Object.keys(properties).length > 8 ? Object.keys(properties).length : '')] = leaf(depth, defs);
  }
  return { type: 'object', properties, required: Object.keys(properties), additionalProperties: false };
}

function randomSchema() {
  const defs = {};
  const schema = object(0, defs, 1 + Math.floor(random() * 6));
  if (Object.keys(defs).length > 0) schema.$defs = defs;
  return schema;
}

const ajv = new Ajv({ strict: false, allErrors: true });

async function answer(request, streaming) {
  if (!streaming) {
    const r = await client.chat.completions.create(request);
    return { content: r.choices[0].message.content, finish: r.choices[0].finish_reason, tokens: r.usage.completion_tokens };
  }
  const stream = await client.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } });
  let content = '';
  let finish = null;
  let tokens = 0;
  for await (const chunk of stream) {
    if (chunk.choices.length > 0) {
      content += chunk.choices[0].delta.content ?? '';
      finish = chunk.choices[0].finish_reason ?? finish;
    }
    if (chunk.usage) tokens = chunk.usage.completion_tokens;
  }
  return { content, finish, tokens };
}

// --- 1. random schemas over the models, all at once, half of them streamed ---

const schemas = Array.from({ length: schemaCount }, randomSchema);
const constrained = schemas.map((schema, i) => ({
  model: models[i % models.length], temperature: 1, seed: i + 1, max_tokens: 1500,
  messages: [{ role: 'user', content: `Fill in form ${i} as JSON.` }],
  response_format: { type: 'json_schema', json_schema: { name: `form_${i}`, strict: true, schema } },
}));
const results = await Promise.all(constrained.map((request, i) => answer(request, i % 2 === 1)));
const finishes = {};
results.forEach((r, i) => {
  finishes[r.finish] = (finishes[r.finish] ?? 0) + 1;
  if (r.finish !== 'stop') {
    // max_tokens reached inside an endless free string: the text is a valid prefix, not a value (as with OpenAI)
    if (r.finish !== 'length' || r.tokens !== 1500) fail(`schema ${i}: finish ${r.finish} after ${r.tokens} tokens`);
    return;
  }
  let value;
  try {
    value = JSON.parse(r.content);
  } catch (e) {
    fail(`schema ${i} (${constrained[i].model}): not JSON: ${e.message}: ${r.content.slice(0, 300)}`);
    return;
  }
  const validate = ajv.compile(schemas[i]);
  if (!validate(value)) {
    fail(`schema ${i} (${constrained[i].model}): ${ajv.errorsText(validate.errors)}: ${JSON.stringify(schemas[i])} -> ${r.content.slice(0, 300)}`);
  }
});
out.schemas = { count: schemaCount, models: models.length, finishes };
if ((finishes.stop ?? 0) < schemaCount * 0.8) fail(`only ${finishes.stop ?? 0} of ${schemaCount} answers completed their document`);

// --- 2. json_object ---

const objects = await Promise.all([0, 1, 2, 3].map((i) => answer({ model: models[i % models.length], temperature: 1, seed: 100 + i,
  max_tokens: 1500, messages: [{ role: 'user', content: 'Any JSON object.' }], response_format: { type: 'json_object' } }, i % 2 === 1)));
out.jsonObject = objects.map((r) => r.finish);
objects.forEach((r, i) => {
  if (r.finish !== 'stop') return;
  try {
    const value = JSON.parse(r.content);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`json_object ${i}: not an object: ${r.content}`);
  } catch (e) {
    fail(`json_object ${i}: not JSON: ${r.content.slice(0, 300)}`);
  }
});

// --- 3. keywords outside the subset: 400 naming them ---

out.unsupported = {};
for (const [keyword, property] of [['minLength', { type: 'string', minLength: 2 }], ['format', { type: 'string', format: 'date' }],
  ['minimum', { type: 'integer', minimum: 3 }], ['oneOf', { oneOf: [{ type: 'string' }, { type: 'integer' }] }],
  ['patternProperties', { type: 'object', patternProperties: { '^a': { type: 'string' } } }]]) {
  const schema = { type: 'object', properties: { field: property }, required: ['field'], additionalProperties: false };
  for (const where of ['response_format', 'tools']) {
    const request = { model: models[0], max_tokens: 20, messages: [{ role: 'user', content: 'x' }] };
    if (where === 'response_format') {
      request.response_format = { type: 'json_schema', json_schema: { name: 'bad', strict: true, schema } };
    } else {
      request.tools = [{ type: 'function', function: { name: 'ok', parameters: { type: 'object', properties: {} } } },
        { type: 'function', function: { name: 'bad', parameters: schema } }];
      request.tool_choice = 'required';
    }
    try {
      await client.chat.completions.create(request);
      fail(`${keyword} in ${where}: accepted`);
    } catch (e) {
      out.unsupported[`${keyword} ${where}`] = { status: e.status, param: e.param, message: e.message };
      const place = where === 'tools' ? 'tools[1].function.parameters.properties.field' : '$.properties.field';
      if (e.status !== 400 || e.param !== where || !e.message.includes(`'${keyword}'`) || !e.message.includes(place)) {
        fail(`${keyword} in ${where}: ${e.status} ${e.param} ${e.message}`);
      }
    }
  }
}

// a schema with no finite document (a required property that is the schema again): 400 naming where
{
  const schema = { type: 'object', properties: { field: { $ref: '#' } }, required: ['field'], additionalProperties: false };
  for (const where of ['response_format', 'tools']) {
    const request = { model: models[0], max_tokens: 20, messages: [{ role: 'user', content: 'x' }] };
    if (where === 'response_format') {
      request.response_format = { type: 'json_schema', json_schema: { name: 'endless', strict: true, schema } };
    } else {
      request.tools = [{ type: 'function', function: { name: 'ok', parameters: { type: 'object', properties: {} } } },
        { type: 'function', function: { name: 'endless', parameters: schema } }];
      request.tool_choice = 'required';
    }
    try {
      await client.chat.completions.create(request);
      fail(`endless schema in ${where}: accepted`);
    } catch (e) {
      out.unsupported[`endless ${where}`] = { status: e.status, param: e.param, message: e.message };
      const place = where === 'tools' ? 'the schema at tools[1].function.parameters admits' : 'the schema at $ admits';
      if (e.status !== 400 || e.param !== where || !e.message.includes(place) || !e.message.includes('no finite JSON document')) {
        fail(`endless schema in ${where}: ${e.status} ${e.param} ${e.message}`);
      }
    }
  }
}

// --- 4. tool calls round trip: call -> tool message -> answer, streaming and not, arguments valid ---

const orderParameters = { type: 'object', $defs: { drink: { type: 'string', enum: ['espresso', 'latte', 'tea'] } },
  properties: { drink: { $ref: '#/$defs/drink' }, cups: { type: 'integer' }, to_go: { type: 'boolean' }, note: { anyOf: [{ type: 'null' }, { type: 'string', pattern: '^[a-z ]{1,20}$' }] } },
  required: ['drink', 'cups', 'to_go', 'note'], additionalProperties: false };
const tools = [{ type: 'function', function: { name: 'order', description: 'Orders drinks', parameters: orderParameters, strict: true } },
  { type: 'function', function: { name: 'menu', description: 'Shows the menu', parameters: { type: 'object', properties: {}, required: [], additionalProperties: false } } }];
const validateOrder = ajv.compile(orderParameters);
out.roundTrips = [];
await Promise.all(models.slice(0, 3).flatMap((model) => [false, true].map(async (streaming) => {
  const messages = [{ role: 'user', content: 'Two lattes to go, please.' }];
  const base = { model, tools, temperature: 1, seed: 7, max_tokens: 300 };
  const first = streaming
    ? await client.chat.completions.stream({ ...base, messages, tool_choice: { type: 'function', function: { name: 'order' } } }).finalChatCompletion()
    : await client.chat.completions.create({ ...base, messages, tool_choice: { type: 'function', function: { name: 'order' } } });
  const choice = first.choices[0];
  const calls = choice.message.tool_calls ?? [];
  if (choice.finish_reason !== 'tool_calls' || calls.length !== 1 || calls[0].function.name !== 'order' || choice.message.content) {
    fail(`${model} streaming=${streaming}: not one call of order: ${JSON.stringify(choice)}`);
    return;
  }
  const args = JSON.parse(calls[0].function.arguments);
  if (!validateOrder(args)) fail(`${model} streaming=${streaming}: arguments ${calls[0].function.arguments}: ${ajv.errorsText(validateOrder.errors)}`);
  messages.push(choice.message, { role: 'tool', tool_call_id: calls[0].id, content: `Order 17: ${args.cups} x ${args.drink}, ready.` });
  const second = streaming
    ? await client.chat.completions.stream({ ...base, messages, tool_choice: 'none' }).finalChatCompletion()
    : await client.chat.completions.create({ ...base, messages, tool_choice: 'none' });
  const reply = second.choices[0];
  // text, not a call (tool_choice none); a random model may end it at once, so it may be empty
  if (typeof reply.message.content !== 'string' || reply.message.tool_calls?.length || !['stop', 'length'].includes(reply.finish_reason)) {
    fail(`${model} streaming=${streaming}: the answer after the tool message: ${JSON.stringify(reply)}`);
  }
  // required, parallel: an array of valid calls of the two tools
  const forced = await client.chat.completions.create({ ...base, messages: messages.slice(0, 1), tool_choice: 'required', seed: 11 });
  for (const call of forced.choices[0].message.tool_calls ?? []) {
    const a = JSON.parse(call.function.arguments);
    if (call.function.name === 'order' ? !validateOrder(a) : Object.keys(a).length !== 0) fail(`${model}: required call ${JSON.stringify(call)}`);
  }
  if (forced.choices[0].finish_reason === 'tool_calls' && (forced.choices[0].message.tool_calls ?? []).length === 0) {
    fail(`${model}: required answered without calls: ${JSON.stringify(forced.choices[0])}`);
  }
  out.roundTrips.push({ model, streaming, arguments: args, answer: reply.finish_reason, requiredFinish: forced.choices[0].finish_reason });
})));

// --- 5. a mixed batch: unconstrained requests give exactly the tokens they give alone ---

const plain = models.map((model, i) => ({ model, temperature: 0.8, seed: 500 + i, max_tokens: 40, ignore_eos: true,
  logprobs: true, messages: [{ role: 'user', content: `Tell me about item ${i}.` }] }));
const tokensOf = (r) => r.choices[0].logprobs.content.map((t) => t.token).join('\u0001');
const alone = [];
for (const request of plain) alone.push(tokensOf(await client.chat.completions.create(request)));
const mixed = await Promise.all([
  ...plain.map((request) => client.chat.completions.create(request).then(tokensOf)),
  ...schemas.slice(0, 16).map((schema, i) => answer(constrained[i], i % 2 === 0)),
  ...models.map((model, i) => client.chat.completions.create({ model, tools, tool_choice: 'required', seed: i, max_tokens: 200,
    messages: [{ role: 'user', content: 'Order something.' }] })),
]);
out.batchInvariance = plain.map((request, i) => mixed[i] === alone[i]);
plain.forEach((request, i) => {
  if (mixed[i] !== alone[i]) fail(`${request.model}: unconstrained tokens changed beside constrained requests: ${alone[i]} vs ${mixed[i]}`);
});

// --- 6. clients leaving constrained and tool-call streams mid-way; the server carries on ---

const aborted = await Promise.all(schemas.slice(0, 8).map(async (schema, i) => {
  const controller = new AbortController();
  const request = i % 2 === 0 ? { ...constrained[i], max_tokens: 1500, stream: true }
    : { model: models[i % models.length], tools, tool_choice: 'required', max_tokens: 300, stream: true, messages: [{ role: 'user', content: 'Order.' }] };
  let chunks = 0;
  try {
    const stream = await client.chat.completions.create(request, { signal: controller.signal });
    for await (const chunk of stream) {
      if (++chunks === 3) {
        controller.abort(); // the connection closes mid-stream; the node must cancel the generation
        return 'aborted';
      }
    }
    return 'finished';
  } catch (e) {
    return controller.signal.aborted ? 'aborted' : `error ${e.message}`;
  }
}));
out.aborted = aborted;
aborted.forEach((a, i) => {
  if (a.startsWith('error')) fail(`stream ${i}: ${a}`);
});
const after = await answer(constrained[0], false);
if (after.finish === 'stop') JSON.parse(after.content);
out.afterAborts = after.finish;

out.failures = failures;
console.log(JSON.stringify(out));
process.exit(failures.length === 0 ? 0 : 1);
