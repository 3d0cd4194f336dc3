// Real clients nobody here wrote — the official `openai` SDK and `@langchain/openai` — against a
// live `retort serve` (started by run.sh). RETORT_URL, RETORT_KEY and RETORT_MODEL say where.
// The model is the tiny random-weight qwen2 fixture with the R1 vocab: the R1 chat format
// applies and the reply starts inside <think>, so reasoning_content is exercised. Its text is
// arbitrary bytes; the checks compare the server with itself (streamed vs whole, seeds, stops).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { ChatOpenAI } from '@langchain/openai';

const baseURL = process.env.RETORT_URL;
const apiKey = process.env.RETORT_KEY;
const model = process.env.RETORT_MODEL;
assert.ok(baseURL && apiKey && model, 'run through tests/clients/run.sh');

const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 120_000 });
const user = (content) => [{ role: 'user', content }];

test('models.list names the served model', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids, [model]);
});

test('non-streamed chat: message, reasoning_content, usage', async () => {
  const r = await client.chat.completions.create({
    model, messages: [{ role: 'system', content: 'Be brief.' }, ...user('What is 2+2?')],
    max_tokens: 16, temperature: 0,
  });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.model, model);
  assert.match(r.id, /^chatcmpl-/);
  const c = r.choices[0];
  assert.equal(c.message.role, 'assistant');
  assert.equal(typeof c.message.content, 'string');
  assert.equal(typeof c.message.reasoning_content, 'string');
  assert.ok(['stop', 'length'].includes(c.finish_reason));
  assert.ok(r.usage.prompt_tokens > 5);
  assert.ok(r.usage.completion_tokens >= 1 && r.usage.completion_tokens <= 16);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  const rt = r.usage.completion_tokens_details.reasoning_tokens;
  assert.ok(rt >= 0 && rt <= r.usage.completion_tokens);
});

test('max_tokens bounds the reply and finish_reason says length', async () => {
  const r = await client.chat.completions.create({
    model, messages: user('Count.'), max_tokens: 7, temperature: 0, ignore_eos: true,
  });
  assert.equal(r.usage.completion_tokens, 7);
  assert.equal(r.choices[0].finish_reason, 'length');
  const r2 = await client.chat.completions.create({
    model, messages: user('Count.'), max_completion_tokens: 3, temperature: 0, ignore_eos: true,
  });
  assert.equal(r2.usage.completion_tokens, 3);
});

test('reasoning_content: the R1 reply starts inside <think>', async () => {
  const raw = await client.chat.completions.create({
    model, messages: user('Think first.'), max_tokens: 24, temperature: 0, reasoning_format: 'none',
  });
  const split = await client.chat.completions.create({
    model, messages: user('Think first.'), max_tokens: 24, temperature: 0,
  });
  const text = raw.choices[0].message.content;
  assert.equal(raw.choices[0].message.reasoning_content, undefined);
  const m = split.choices[0].message;
  const close = text.indexOf('</think>');
  if (close < 0) {
    // Still thinking when max_tokens ran out: all of it is reasoning.
    assert.equal(m.content, '');
    assert.ok(m.reasoning_content.length > 0);
    assert.equal(split.usage.completion_tokens_details.reasoning_tokens, split.usage.completion_tokens);
  } else {
    assert.equal(m.reasoning_content, text.slice(0, close).trim());
    assert.equal(m.content, text.slice(close + 8).trimStart());
  }
});

test('streamed chat equals the non-streamed reply, with usage last', async () => {
  const params = { model, messages: user('Stream please.'), max_tokens: 20, temperature: 0 };
  const whole = await client.chat.completions.create(params);
  const stream = await client.chat.completions.create({
    ...params, stream: true, stream_options: { include_usage: true },
  });
  let content = '', reasoning = '', finish = null, usage = null, first = true;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) { usage = chunk.usage; assert.equal(chunk.choices.length, 0); continue; }
    const ch = chunk.choices[0];
    if (first) { assert.equal(ch.delta.role, 'assistant'); first = false; }
    content += ch.delta.content ?? '';
    reasoning += ch.delta.reasoning_content ?? '';
    if (ch.finish_reason) finish = ch.finish_reason;
  }
  assert.equal(content, whole.choices[0].message.content);
  assert.equal(reasoning, whole.choices[0].message.reasoning_content);
  assert.equal(finish, whole.choices[0].finish_reason);
  assert.ok(usage, 'include_usage sends a usage chunk');
  assert.equal(usage.completion_tokens, whole.usage.completion_tokens);
  assert.equal(usage.prompt_tokens, whole.usage.prompt_tokens);
});

test('stop strings end the reply before the stop', async () => {
  const params = { model, messages: user('A long answer.'), max_tokens: 40, temperature: 0,
                   reasoning_format: 'none', ignore_eos: true };
  const full = (await client.chat.completions.create(params)).choices[0].message.content;
  // A printable ASCII run from the middle of the greedy text (the random model emits any bytes).
  const at = full.slice(4).search(/[ -~]{3}/);
  assert.ok(at >= 0, `no printable run in ${JSON.stringify(full)}`);
  const stop = full.slice(4 + at, 4 + at + 3);
  for (const s of [stop, [stop, 'never-there']]) {
    const r = await client.chat.completions.create({ ...params, stop: s });
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.equal(r.choices[0].message.content, full.slice(0, full.indexOf(stop)));
  }
  // Streamed, the stop string never leaks either.
  const stream = await client.chat.completions.create({ ...params, stop, stream: true });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
  assert.equal(text, full.slice(0, full.indexOf(stop)));
});

test('seed: same seed, same sample; another seed, another', async () => {
  const params = { model, messages: user('Surprise me.'), max_tokens: 24, temperature: 1.0,
                   reasoning_format: 'none', ignore_eos: true };
  const a = await client.chat.completions.create({ ...params, seed: 42 });
  const b = await client.chat.completions.create({ ...params, seed: 42 });
  const c = await client.chat.completions.create({ ...params, seed: 4242 });
  assert.equal(a.choices[0].message.content, b.choices[0].message.content);
  assert.notEqual(a.choices[0].message.content, c.choices[0].message.content);
  // Concurrently (batched with each other) the seeded samples do not change.
  const [d, e] = await Promise.all([
    client.chat.completions.create({ ...params, seed: 42 }),
    client.chat.completions.create({ ...params, seed: 4242 }),
  ]);
  assert.equal(d.choices[0].message.content, a.choices[0].message.content);
  assert.equal(e.choices[0].message.content, c.choices[0].message.content);
});

test('logprobs with top_logprobs', async () => {
  const r = await client.chat.completions.create({
    model, messages: user('Log it.'), max_tokens: 5, temperature: 0, logprobs: true, top_logprobs: 3,
    ignore_eos: true,
  });
  const lp = r.choices[0].logprobs.content;
  assert.equal(lp.length, 5);
  for (const e of lp) {
    assert.equal(typeof e.token, 'string');
    assert.ok(e.logprob <= 0);
    assert.equal(e.top_logprobs.length, 3);
    assert.ok(Array.isArray(e.bytes));
    // greedy: the chosen token is the most likely one
    assert.equal(e.logprob, e.top_logprobs[0].logprob);
    assert.ok(e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob);
  }
});

test('legacy completions', async () => {
  const r = await client.completions.create({ model, prompt: 'abc', max_tokens: 4, temperature: 0, ignore_eos: true });
  assert.equal(r.object, 'text_completion');
  assert.equal(r.usage.completion_tokens, 4);
  assert.equal(typeof r.choices[0].text, 'string');
});

test('401 for a wrong or missing key', async () => {
  for (const key of ['sk-wrong', 'x']) {
    const bad = new OpenAI({ baseURL, apiKey: key, maxRetries: 0 });
    await assert.rejects(bad.chat.completions.create({ model, messages: user('hi'), max_tokens: 2 }),
      (err) => err instanceof OpenAI.AuthenticationError && err.status === 401 && err.code === 'invalid_api_key');
  }
});

test('400 for bad fields, with OpenAI error objects', async () => {
  await assert.rejects(
    client.chat.completions.create({ model, messages: user('hi'), temperature: 5 }),
    (err) => err instanceof OpenAI.BadRequestError && err.status === 400 && err.param === 'temperature'
      && err.type === 'invalid_request_error');
  await assert.rejects(
    client.chat.completions.create({ model, messages: user('hi'), n: 2 }),
    (err) => err.status === 400 && err.param === 'n');
  await assert.rejects(
    client.chat.completions.create({ model, messages: user('hi'), max_tokens: 100000 }),
    (err) => err.status === 400 && err.code === 'context_length_exceeded' && /100000/.test(err.message));
  await assert.rejects(
    client.chat.completions.create({ model: 'gpt-4o', messages: user('hi') }),
    (err) => err instanceof OpenAI.NotFoundError && err.status === 404 && err.code === 'model_not_found');
});

test('LangChain ChatOpenAI: invoke, stream and usage against the same server', async () => {
  const llm = new ChatOpenAI({
    model, apiKey, temperature: 0, maxTokens: 12, maxRetries: 0,
    configuration: { baseURL }, modelKwargs: { reasoning_format: 'none' },
  });
  const msg = await llm.invoke([['system', 'Be brief.'], ['human', 'Hello from LangChain']]);
  assert.equal(typeof msg.content, 'string');
  assert.ok(msg.usage_metadata.input_tokens > 5);
  assert.ok(msg.usage_metadata.output_tokens >= 1 && msg.usage_metadata.output_tokens <= 12);
  // The SDK, asked the same greedy question, gets the same text.
  const sdk = await client.chat.completions.create({
    model, messages: [{ role: 'system', content: 'Be brief.' }, ...user('Hello from LangChain')],
    max_tokens: 12, temperature: 0, reasoning_format: 'none',
  });
  assert.equal(msg.content, sdk.choices[0].message.content);
  let streamed = '';
  let chunks = 0;
  for await (const chunk of await llm.stream('Hello from LangChain')) {
    streamed += chunk.content;
    chunks += 1;
  }
  assert.ok(chunks >= 1);
  const again = await llm.invoke('Hello from LangChain');
  assert.equal(streamed, again.content);
});

test('LangChain sees reasoning_content or an empty answer, never the <think> tags', async () => {
  const llm = new ChatOpenAI({ model, apiKey, temperature: 0, maxTokens: 16, maxRetries: 0, configuration: { baseURL } });
  const msg = await llm.invoke('Think about it.');
  assert.ok(!msg.content.includes('<think>') && !msg.content.includes('</think>'));
});

test('LangChain surfaces a 401', async () => {
  const llm = new ChatOpenAI({ model, apiKey: 'sk-wrong', maxRetries: 0, configuration: { baseURL } });
  await assert.rejects(llm.invoke('hi'), (err) => err.status === 401 || /401/.test(String(err)));
});
