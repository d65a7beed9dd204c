// Fine-tuning end to end with the official openai client: upload a training file, create a job,
// poll its events until it ends, then chat with fine_tuned_model. Prints one JSON object; the
// Java test asserts on it.
//
// LORAPLEX_URL=http://127.0.0.1:PORT/v1 LORAPLEX_KEY=... LORAPLEX_BASE_MODEL=loraplex-tiny \
// LORAPLEX_TRAINING_FILE=cafe.jsonl [LORAPLEX_SUFFIX=cafe-ft] [LORAPLEX_EPOCHS=auto] \
// [LORAPLEX_QUESTION="What are your opening hours?"] [LORAPLEX_OTHER_KEY=another tenant's key] \
// [LORAPLEX_LR_MULTIPLIER=1] [LORAPLEX_VALIDATE_ON_TRAINING=1] [LORAPLEX_TIMEOUT_S=600] node finetune-e2e.mjs
import fs from 'node:fs';
import OpenAI from 'openai';

const env = process.env;
const client = new OpenAI({ baseURL: env.LORAPLEX_URL, apiKey: env.LORAPLEX_KEY, maxRetries: 0 });
const trainingPath = env.LORAPLEX_TRAINING_FILE;
const deadline = Date.now() + Number(env.LORAPLEX_TIMEOUT_S ?? 600) * 1000;
const out = {};

// the question: LORAPLEX_QUESTION, or the first example's last user message
const firstExample = JSON.parse(fs.readFileSync(trainingPath, 'utf8').split('\n').find(l => l.trim().length > 0));
const question = env.LORAPLEX_QUESTION
  ?? firstExample.messages.filter(m => m.role === 'user').at(-1).content;
out.expected = firstExample.messages.at(-1).content;

const file = await client.files.create({ file: fs.createReadStream(trainingPath), purpose: 'fine-tune' });
out.file = { id: file.id, object: file.object, bytes: file.bytes, filename: file.filename, purpose: file.purpose, status: file.status };

// a file that is not training data is refused with its problems by line
try {
  const bad = new File(['{"messages": [{"role": "user", "content": "no answer"}]}\nnot json\n'], 'bad.jsonl');
  await client.files.create({ file: bad, purpose: 'fine-tune' });
  out.badFile = { status: 200 };
} catch (e) {
  out.badFile = { status: e.status, param: e.param, code: e.code, message: e.message };
}

const epochs = env.LORAPLEX_EPOCHS && env.LORAPLEX_EPOCHS !== 'auto' ? Number(env.LORAPLEX_EPOCHS) : 'auto';
const hyperparameters = { n_epochs: epochs };
if (env.LORAPLEX_LR_MULTIPLIER) hyperparameters.learning_rate_multiplier = Number(env.LORAPLEX_LR_MULTIPLIER);
const job = await client.fineTuning.jobs.create({
  training_file: file.id, model: env.LORAPLEX_BASE_MODEL, suffix: env.LORAPLEX_SUFFIX ?? 'e2e-ft', hyperparameters,
  // the evaluation before promotion on the training pairs themselves: every pair is trained
  ...(env.LORAPLEX_VALIDATE_ON_TRAINING ? { validation_file: file.id } : {}),
});
out.created = { id: job.id, object: job.object, status: job.status, model: job.model };

// poll: events newest first; keep every one seen, oldest first
const seen = new Map();
let current = job;
while (!['succeeded', 'failed', 'cancelled'].includes(current.status)) {
  if (Date.now() > deadline) {
    out.timedOut = true;
    break;
  }
  await new Promise(resolve => setTimeout(resolve, 500));
  const page = await client.fineTuning.jobs.listEvents(job.id, { limit: 100 });
  for (const e of page.data) seen.set(e.id, e);
  current = await client.fineTuning.jobs.retrieve(job.id);
}
for (const e of (await client.fineTuning.jobs.listEvents(job.id, { limit: 100 })).data) seen.set(e.id, e);
const events = [...seen.values()].sort((a, b) => a.created_at - b.created_at || a.id.localeCompare(b.id, 'en', { numeric: true }));
out.events = events.map(e => ({ object: e.object, level: e.level, type: e.type, message: e.message, data: e.data }));
out.job = { id: current.id, status: current.status, fine_tuned_model: current.fine_tuned_model,
  trained_tokens: current.trained_tokens, error: current.error, finished_at: current.finished_at, loraplex: current.loraplex };

if (current.status === 'succeeded') {
  try {
    const chat = await client.chat.completions.create({ model: current.fine_tuned_model, temperature: 0, max_tokens: 64,
      messages: [{ role: 'user', content: question }] });
    out.chat = { question, content: chat.choices[0].message.content, model: chat.model };
  } catch (e) {
    out.chat = { question, status: e.status, message: e.message };
  }
}

const jobs = await client.fineTuning.jobs.list({ limit: 5 });
out.listed = jobs.data.map(j => j.id);

if (env.LORAPLEX_OTHER_KEY) {
  const other = new OpenAI({ baseURL: env.LORAPLEX_URL, apiKey: env.LORAPLEX_OTHER_KEY, maxRetries: 0 });
  out.otherTenant = {};
  for (const [name, call] of [['job', () => other.fineTuning.jobs.retrieve(job.id)], ['file', () => other.files.retrieve(file.id)]]) {
    try {
      await call();
      out.otherTenant[name] = { status: 200 };
    } catch (e) {
      out.otherTenant[name] = { status: e.status, message: e.message };
    }
  }
}

console.log(JSON.stringify(out));
