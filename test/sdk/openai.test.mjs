// openai-node (the official OpenAI TypeScript SDK) against the gateway.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import {
  apiKey, assertAttempts, baseURL, brokeKey, chatModels, countingFetch, mockTokens, models,
  pngDataURL, weatherSchema, weatherToolParameters,
} from './env.mjs';

const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
const hello = [{ role: 'user', content: 'Say hello.' }];
const weatherTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'Weather of a city', parameters: weatherToolParameters },
};
const askWeather = [{ role: 'user', content: 'Weather in Paris and in Rome?' }];

for (const model of chatModels) {
  test(`${model}: plain chat`, async () => {
    const r = await client.chat.completions.create({ model, messages: hello });
    assert.match(r.id, /^gen-/);
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.model, model);
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.ok(r.choices[0].message.content.length > 0);
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.equal(r.usage.completion_tokens, mockTokens);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  });

  test(`${model}: streaming with usage`, async () => {
    const stream = await client.chat.completions.create({
      model, messages: hello, stream: true, stream_options: { include_usage: true },
    });
    let text = '';
    const usageChunks = [];
    const ids = new Set();
    let finish = null;
    for await (const chunk of stream) {
      ids.add(chunk.id);
      if (chunk.usage) usageChunks.push(chunk);
      for (const c of chunk.choices) {
        text += c.delta?.content ?? '';
        finish = c.finish_reason ?? finish;
      }
    }
    assert.equal(ids.size, 1, 'every chunk carries the same id');
    assert.ok(text.length > 0);
    assert.equal(finish, 'stop');
    assert.equal(usageChunks.length, 1, 'exactly one usage chunk');
    assert.deepEqual(usageChunks[0].choices, []);
    assert.equal(usageChunks[0].usage.completion_tokens, mockTokens);
    assert.ok(usageChunks[0].usage.cost > 0, 'usage.cost is reported');
  });

  test(`${model}: parallel tool calls through the strict chat.completions.stream() helper`, async () => {
    const stream = client.chat.completions.stream({
      model, messages: askWeather, tools: [weatherTool], stream_options: { include_usage: true },
    });
    const deltas = [];
    stream.on('tool_calls.function.arguments.done', (e) => deltas.push(e));
    const done = await stream.finalChatCompletion();
    const msg = done.choices[0].message;
    assert.equal(done.choices[0].finish_reason, 'tool_calls');
    assert.equal(msg.tool_calls.length, 2);
    for (const tc of msg.tool_calls) {
      assert.equal(tc.type, 'function');
      assert.ok(tc.id);
      assert.equal(tc.function.name, 'get_weather');
      JSON.parse(tc.function.arguments);
    }
    assert.notEqual(msg.tool_calls[0].id, msg.tool_calls[1].id);
    assert.equal(deltas.length, 2, 'one arguments.done event per call');
    assert.ok(done.usage.completion_tokens > 0);
  });

  test(`${model}: image input (data URL)`, async () => {
    const r = await client.chat.completions.create({
      model,
      messages: [{
        role: 'user',
        content: [
          { type: 'text', text: 'What is in this image?' },
          { type: 'image_url', image_url: { url: pngDataURL } },
        ],
      }],
    });
    assert.ok(r.choices[0].message.content.length > 0);
    assert.ok(r.usage.prompt_tokens > 0);
  });

  test(`${model}: json_schema response_format is accepted`, async () => {
    const r = await client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'Weather in Paris as JSON.' }],
      response_format: { type: 'json_schema', json_schema: { name: 'weather', schema: weatherSchema, strict: true } },
    });
    assert.equal(r.choices[0].finish_reason, 'stop');
  });
}

test('json_schema output parsed by chat.completions.parse()', async () => {
  const r = await client.chat.completions.parse({
    model: models.json,
    messages: [{ role: 'user', content: 'Weather in Paris as JSON.' }],
    response_format: { type: 'json_schema', json_schema: { name: 'weather', schema: weatherSchema, strict: true } },
  });
  const parsed = r.choices[0].message.parsed;
  assert.equal(typeof parsed.city, 'string');
  assert.equal(typeof parsed.temperature_c, 'number');
  assert.ok(['sunny', 'cloudy', 'rain'].includes(parsed.conditions));
});

test('json_schema output streamed through chat.completions.stream()', async () => {
  const stream = client.chat.completions.stream({
    model: models.json,
    messages: [{ role: 'user', content: 'Weather in Paris as JSON.' }],
    response_format: { type: 'json_schema', json_schema: { name: 'weather', schema: weatherSchema, strict: true } },
  });
  const done = await stream.finalChatCompletion();
  assert.equal(typeof done.choices[0].message.parsed.city, 'string');
});

test('runTools answers the tool calls and finishes with text', async () => {
  const seen = [];
  const runner = client.chat.completions.runTools({
    model: models.openai,
    messages: askWeather,
    tools: [{
      type: 'function',
      function: {
        name: 'get_weather',
        parameters: weatherToolParameters,
        parse: JSON.parse,
        function: (args) => { seen.push(args); return { temperature_c: 21 }; },
      },
    }],
  });
  const content = await runner.finalContent();
  assert.ok(content.length > 0);
  assert.equal(seen.length, 2, 'both parallel calls ran');
});

test('mid-stream error surfaces as an APIError from the stream iterator', async () => {
  const stream = await client.chat.completions.create({ model: models.midstream, messages: hello, stream: true });
  let chunks = 0;
  await assert.rejects(async () => {
    for await (const _ of stream) chunks++;
  }, (err) => err instanceof OpenAI.APIError);
  assert.ok(chunks > 0, 'content came before the error');
});

test('mid-stream error rejects chat.completions.stream().finalChatCompletion()', async () => {
  const stream = client.chat.completions.stream({ model: models.midstream, messages: hello });
  await assert.rejects(stream.finalChatCompletion(), (err) => err instanceof OpenAI.APIError);
});

test('402 insufficient credits: not retried', async () => {
  const f = countingFetch();
  const broke = new OpenAI({ baseURL, apiKey: brokeKey, fetch: f.fetch }); // default maxRetries (2)
  await assert.rejects(broke.chat.completions.create({ model: models.openai, messages: hello }), (err) => {
    assert.ok(err instanceof OpenAI.APIError);
    assert.equal(err.status, 402);
    assert.match(err.message, /afford/);
    return true;
  });
  assertAttempts(f.calls, 1);
});

test('429 with Retry-After: retried after the delay, then RateLimitError', async () => {
  const f = countingFetch();
  const c = new OpenAI({ baseURL, apiKey, fetch: f.fetch, maxRetries: 2 });
  await assert.rejects(c.chat.completions.create({ model: models.ratelimited, messages: hello }), (err) => {
    assert.ok(err instanceof OpenAI.RateLimitError);
    assert.equal(err.headers.get('retry-after'), '1');
    assert.equal(err.headers.get('x-should-retry'), null);
    return true;
  });
  assertAttempts(f.calls, 3, 900);
});

test('502 with x-should-retry: false is not retried', async () => {
  const f = countingFetch();
  const c = new OpenAI({ baseURL, apiKey, fetch: f.fetch, maxRetries: 2 });
  await assert.rejects(c.chat.completions.create({ model: models.broken, messages: hello }), (err) => {
    assert.ok(err instanceof OpenAI.InternalServerError);
    assert.equal(err.status, 502);
    assert.equal(err.headers.get('x-should-retry'), 'false');
    return true;
  });
  assertAttempts(f.calls, 1);
});

test('models.list', async () => {
  const ids = [];
  for await (const m of client.models.list()) {
    assert.equal(m.object, 'model');
    ids.push(m.id);
  }
  for (const id of Object.values(models)) assert.ok(ids.includes(id), `${id} listed`);
});

test('embeddings (default base64 encoding and float)', async () => {
  const r = await client.embeddings.create({ model: models.embed, input: ['alpha', 'beta'] });
  assert.equal(r.data.length, 2);
  assert.equal(r.data[0].embedding.length, 1536);
  assert.ok(r.usage.prompt_tokens > 0);
  const f = await client.embeddings.create({ model: models.embed, input: 'alpha', encoding_format: 'float', dimensions: 8 });
  assert.equal(f.data[0].embedding.length, 8);
  assert.ok(f.data[0].embedding.every((x) => typeof x === 'number'));
});
