// Tool calls with the official OpenAI Node SDK against the router (node double answering "[say]..."):
// a call and its round trip (call -> tool message -> answer) through the SDK's own tool runner,
// streaming and not; prints one JSON object of what it saw. Run by OfficialClientTest.
const OpenAI = require('openai').default;

const CALL = '{"name": "get_weather", "arguments": {"city": "Paris"}}';

async function main() {
  const client = new OpenAI({ baseURL: process.env.BASE_URL + '/v1', apiKey: process.env.API_KEY, maxRetries: 0 });
  const parameters = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false };
  const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather in a city', parameters, strict: true } }];
  const messages = [{ role: 'user', content: '[say]' + CALL }];
  const out = {};

  const forced = await client.chat.completions.create({ model: 'cafe', messages, tools,
    tool_choice: { type: 'function', function: { name: 'get_weather' } } });
  const message = forced.choices[0].message;
  out.call = { finish: forced.choices[0].finish_reason, content: message.content, id: message.tool_calls[0].id,
    type: message.tool_calls[0].type, name: message.tool_calls[0].function.name,
    arguments: JSON.parse(message.tool_calls[0].function.arguments) };

  // the SDK assembles the streamed deltas into the same message
  const stream = client.chat.completions.stream({ model: 'cafe', messages, tools });
  const streamed = await stream.finalChatCompletion();
  out.streamedCall = { finish: streamed.choices[0].finish_reason, name: streamed.choices[0].message.tool_calls[0].function.name,
    arguments: JSON.parse(streamed.choices[0].message.tool_calls[0].function.arguments) };

  // the round trip: the runner calls the function and sends its result as a tool message on the next turn
  for (const streaming of [false, true]) {
    const seen = [];
    const runner = client.chat.completions.runTools({ model: 'cafe', messages, stream: streaming, tools: [{ type: 'function', function: {
      name: 'get_weather', description: 'Weather in a city', parameters, parse: JSON.parse,
      function: (args) => { seen.push(args); return '21 C in ' + args.city; } } }] });
    const answer = await runner.finalContent();
    out[streaming ? 'roundTripStreaming' : 'roundTrip'] = { answer, calledWith: seen,
      toolMessage: runner.messages.filter((m) => m.role === 'tool').map((m) => m.content) };
  }
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
