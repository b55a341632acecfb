// @anthropic-ai/sdk (the official Anthropic TypeScript SDK) against the
// gateway's POST /v1/messages, with upstreams of all three protocols. The
// SDK appends /v1/messages to its base URL, so it gets the gateway root.
// Anthropic has no embeddings API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import {
  apiKey, assertAttempts, brokeKey, chatModels, countingFetch, mockTokens, models, pngDataURL, rootURL,
  weatherSchema, weatherToolParameters,
} from './env.mjs';

const client = new Anthropic({ baseURL: rootURL, apiKey, maxRetries: 0 });
const hello = [{ role: 'user', content: 'Say hello.' }];
const weatherTool = { name: 'get_weather', description: 'Weather of a city', input_schema: weatherToolParameters };

for (const model of chatModels) {
  test(`${model}: messages.create`, async () => {
    const m = await client.messages.create({ model, max_tokens: 200, messages: hello });
    assert.equal(m.type, 'message');
    assert.equal(m.role, 'assistant');
    assert.ok(m.content[0].text.length > 0);
    assert.equal(m.stop_reason, 'end_turn');
    assert.equal(m.usage.output_tokens, mockTokens);
  });

  test(`${model}: messages.stream() to finalMessage with usage`, async () => {
    const stream = client.messages.stream({ model, max_tokens: 200, messages: hello });
    let text = '';
    stream.on('text', (t) => { text += t; });
    const m = await stream.finalMessage();
    assert.ok(text.length > 0);
    assert.equal(m.content[0].text, text);
    assert.equal(m.stop_reason, 'end_turn');
    assert.equal(m.usage.output_tokens, mockTokens);
    assert.ok(m.usage.input_tokens > 0);
  });

  test(`${model}: parallel tool_use blocks streamed`, async () => {
    const stream = client.messages.stream({
      model, max_tokens: 200, tools: [weatherTool], messages: [{ role: 'user', content: 'Weather in Paris and in Rome?' }],
    });
    const m = await stream.finalMessage();
    assert.equal(m.stop_reason, 'tool_use');
    const uses = m.content.filter((b) => b.type === 'tool_use');
    assert.equal(uses.length, 2);
    for (const u of uses) {
      assert.equal(u.name, 'get_weather');
      assert.ok(u.id);
      assert.equal(typeof u.input, 'object');
    }
  });

  test(`${model}: base64 image input`, async () => {
    const m = await client.messages.create({
      model, max_tokens: 200,
      messages: [{
        role: 'user',
        content: [
          { type: 'text', text: 'What is in this image?' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: pngDataURL.split(',')[1] } },
        ],
      }],
    });
    assert.ok(m.content[0].text.length > 0);
  });
}

test('output_config json_schema', async () => {
  const m = await client.messages.create({
    model: models.json, max_tokens: 200, messages: [{ role: 'user', content: 'Weather in Paris as JSON.' }],
    output_config: { format: { type: 'json_schema', schema: weatherSchema } },
  });
  const w = JSON.parse(m.content[0].text);
  assert.equal(typeof w.city, 'string');
  assert.equal(typeof w.temperature_c, 'number');
});

test('mid-stream error rejects finalMessage() with an APIError', async () => {
  const stream = client.messages.stream({ model: models.midstream, max_tokens: 200, messages: hello });
  let text = '';
  stream.on('text', (t) => { text += t; });
  await assert.rejects(stream.finalMessage(), (err) => err instanceof Anthropic.APIError && /injected by mock/.test(err.message));
  assert.ok(text.length > 0, 'content came before the error');
});

test('402 insufficient credits is not retried', async () => {
  const f = countingFetch();
  const c = new Anthropic({ baseURL: rootURL, apiKey: brokeKey, fetch: f.fetch, maxRetries: 2 });
  await assert.rejects(c.messages.create({ model: models.openai, max_tokens: 200, messages: hello }), (err) => {
    assert.equal(err.status, 402);
    return true;
  });
  assertAttempts(f.calls, 1);
});

test('429 is retried after Retry-After', async () => {
  const f = countingFetch();
  const c = new Anthropic({ baseURL: rootURL, apiKey, fetch: f.fetch, maxRetries: 1 });
  await assert.rejects(c.messages.create({ model: models.ratelimited, max_tokens: 200, messages: hello }), (err) => {
    assert.ok(err instanceof Anthropic.RateLimitError, String(err));
    assert.equal(err.error.type, 'error');
    return true;
  });
  assertAttempts(f.calls, 2, 900);
});

test('502 with x-should-retry: false is not retried', async () => {
  const f = countingFetch();
  const c = new Anthropic({ baseURL: rootURL, apiKey, fetch: f.fetch, maxRetries: 2 });
  await assert.rejects(c.messages.create({ model: models.broken, max_tokens: 200, messages: hello }), (err) => {
    assert.equal(err.status, 502);
    assert.equal(err.headers.get('x-should-retry'), 'false');
    return true;
  });
  assertAttempts(f.calls, 1);
});

test('models.list', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  for (const id of Object.values(models)) assert.ok(ids.includes(id), `${id} listed`);
});
