// End-to-end checks of loraplex's OpenAI-compatible API with the official openai client.
// Usage: LORAPLEX_URL=http://127.0.0.1:PORT/v1 LORAPLEX_KEY=... LORAPLEX_MODEL=cafe node e2e.mjs
// Prints one JSON object with what each call returned; the Java test asserts on it.
import OpenAI from 'openai';

const client = new OpenAI({ baseURL: process.env.LORAPLEX_URL, apiKey: process.env.LORAPLEX_KEY, maxRetries: 0 });
const model = process.env.LORAPLEX_MODEL;
const out = {};

const question = [{ role: 'user', content: 'How much is an Americano?' }];

const chat = await client.chat.completions.create({ model, messages: question, max_tokens: 12, temperature: 0 });
out.chat = { object: chat.object, content: chat.choices[0].message.content, role: chat.choices[0].message.role,
  finish_reason: chat.choices[0].finish_reason, usage: chat.usage, model: chat.model, id: chat.id };

const stream = await client.chat.completions.create({ model, messages: question, max_tokens: 12, temperature: 0,
  stream: true, stream_options: { include_usage: true } });
let streamed = '';
let chunks = 0;
let finish = null;
let usage = null;
for await (const chunk of stream) {
  chunks++;
  if (chunk.choices.length > 0) {
    streamed += chunk.choices[0].delta.content ?? '';
    if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
  }
  if (chunk.usage) usage = chunk.usage;
}
out.stream = { content: streamed, chunks, finish_reason: finish, usage };

const models = await client.models.list();
out.models = models.data.map(m => m.id);

try {
  await client.chat.completions.create({ model: 'no-such-adapter', messages: question, max_tokens: 4 });
  out.unknownModel = { status: 200 };
} catch (e) {
  out.unknownModel = { status: e.status, code: e.code, type: e.type, message: e.message };
}

try {
  // an empty tools array is refused naming it, as OpenAI does (tools themselves are supported: see StructuredOutputsIT)
  await client.chat.completions.create({ model, messages: question, tools: [] });
  out.tools = { status: 200 };
} catch (e) {
  out.tools = { status: e.status, param: e.param, message: e.message };
}

const completion = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 8, temperature: 0 });
out.completion = { object: completion.object, text: completion.choices[0].text, finish_reason: completion.choices[0].finish_reason };

// several prompts in one request: n choices per prompt, in order (temperature 0: each as it answers alone)
const batch = await client.completions.create({ model, prompt: ['Once upon a time', 'The cafe opens'], max_tokens: 8, temperature: 0 });
const second = await client.completions.create({ model, prompt: 'The cafe opens', max_tokens: 8, temperature: 0 });
out.promptBatch = { indexes: batch.choices.map((c) => c.index), texts: batch.choices.map((c) => c.text), alone: [completion.choices[0].text, second.choices[0].text] };

console.log(JSON.stringify(out));
