// Drives the router with the official OpenAI Node SDK; prints one JSON object of what it saw.
// Run by OfficialClientTest with BASE_URL, API_KEY, LIMITED_KEY and NODE_PATH (a node_modules holding openai).
const OpenAI = require('openai').default;

async function main() {
  const client = new OpenAI({ baseURL: process.env.BASE_URL + '/v1', apiKey: process.env.API_KEY, maxRetries: 0 });
  const messages = [{ role: 'system', content: 'be brief' }, { role: 'user', content: [{ type: 'text', text: 'hi' }] }];
  const out = {};

  const chat = await client.chat.completions.create({ model: 'cafe', messages, max_tokens: 20, n: 2, seed: 1, logprobs: true, top_logprobs: 1 });
  out.chat = chat.choices.map((c) => c.message.content);
  out.chatFinish = chat.choices[0].finish_reason;
  out.chatLogprobTokens = chat.choices[0].logprobs.content.map((t) => t.token);
  out.chatUsage = chat.usage.total_tokens;

  const stream = await client.chat.completions.create({ model: 'cafe', messages, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let usage = null;
  let role = null;
  let finish = null;
  for await (const chunk of stream) {
    const choice = chunk.choices[0];
    if (choice && choice.delta.role) role = choice.delta.role;
    if (choice && choice.delta.content) text += choice.delta.content;
    if (choice && choice.finish_reason) finish = choice.finish_reason;
    if (chunk.usage) usage = chunk.usage;
  }
  out.stream = { text, role, finish, usage: usage && usage.total_tokens };

  const completion = await client.completions.create({ model: 'cafe', prompt: 'Once', logprobs: 1, max_tokens: 5 });
  out.completion = { text: completion.choices[0].text, tokens: completion.choices[0].logprobs.tokens };

  const textStream = await client.completions.create({ model: 'cafe', prompt: 'Once', stream: true });
  let streamed = '';
  for await (const chunk of textStream) streamed += chunk.choices.length ? chunk.choices[0].text : '';
  out.completionStream = streamed;

  out.models = (await client.models.list()).data.map((m) => m.id);
  out.model = (await client.models.retrieve('cafe')).owned_by;

  const failure = async (f) => {
    try {
      await f();
      return null;
    } catch (e) {
      return { status: e.status, code: e.code, param: e.param, type: e.type, retryAfter: e.headers && e.headers.get ? e.headers.get('retry-after') : null };
    }
  };
  out.notFound = await failure(() => client.chat.completions.create({ model: 'secret', messages }));
  // tools are supported (openai-tools-check.cjs); an empty list of them is refused by name
  out.tools = await failure(() => client.chat.completions.create({ model: 'cafe', messages, tools: [] }));
  out.contextExceeded = await failure(() => client.chat.completions.create({ model: 'cafe', messages: [{ role: 'user', content: '[reject:context]' }], stream: true }));
  const limited = new OpenAI({ baseURL: process.env.BASE_URL + '/v1', apiKey: process.env.LIMITED_KEY, maxRetries: 0 });
  out.limited = await failure(() => limited.chat.completions.create({ model: 'cafe', messages }));
  const stranger = new OpenAI({ baseURL: process.env.BASE_URL + '/v1', apiKey: 'sk-nobody-0123456789', maxRetries: 0 });
  out.badKey = await failure(() => stranger.models.list());
  out.midStream = await failure(async () => {
    const s = await client.chat.completions.create({ model: 'cafe', messages: [{ role: 'user', content: '[fail]' }], stream: true });
    for await (const chunk of s) { /* the error event throws */ }
  });

  // prompts as token ids: n choices per prompt, prompt by prompt; a negative id is refused naming prompt
  const tokenPrompts = await client.completions.create({ model: 'cafe', prompt: [[11, 12], [13]], n: 2, max_tokens: 5 });
  out.tokenPrompts = { texts: tokenPrompts.choices.map((c) => c.index + ':' + c.text), promptTokens: tokenPrompts.usage.prompt_tokens };
  out.negativeTokenId = await failure(() => client.completions.create({ model: 'cafe', prompt: [1, -2] }));
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
