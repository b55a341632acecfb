// LangChain JS (@langchain/openai ChatOpenAI and OpenAIEmbeddings) against
// the gateway. LangChain has no model listing; GET /models is covered by
// the other clients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChatOpenAI, OpenAIEmbeddings } from '@langchain/openai';
import { HumanMessage } from '@langchain/core/messages';
import { concat } from '@langchain/core/utils/stream';
import {
  apiKey, assertAttempts, baseURL, brokeKey, chatModels, countingFetch, mockTokens, models, pngDataURL,
  weatherSchema, weatherToolParameters,
} from './env.mjs';

function chat(model, opts = {}) {
  return new ChatOpenAI({
    model,
    apiKey: opts.broke ? brokeKey : apiKey,
    configuration: { baseURL, fetch: opts.fetch },
    streamUsage: true,
    maxRetries: opts.maxRetries ?? 0,
  });
}

const weatherTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'Weather of a city', parameters: weatherToolParameters },
};

async function collect(stream) {
  let acc;
  for await (const chunk of stream) acc = acc === undefined ? chunk : concat(acc, chunk);
  return acc;
}

for (const model of chatModels) {
  test(`${model}: invoke`, async () => {
    const r = await chat(model).invoke('Say hello.');
    assert.ok(r.content.length > 0);
    assert.equal(r.usage_metadata.output_tokens, mockTokens);
    assert.ok(r.usage_metadata.input_tokens > 0);
    assert.equal(r.response_metadata.finish_reason, 'stop');
  });

  test(`${model}: stream with streamUsage`, async () => {
    const acc = await collect(await chat(model).stream('Say hello.'));
    assert.ok(acc.content.length > 0);
    assert.equal(acc.usage_metadata.output_tokens, mockTokens);
    assert.equal(acc.usage_metadata.total_tokens, acc.usage_metadata.input_tokens + acc.usage_metadata.output_tokens);
  });

  test(`${model}: bindTools, parallel tool calls streamed`, async () => {
    const m = chat(model).bindTools([weatherTool]);
    const acc = await collect(await m.stream('Weather in Paris and in Rome?'));
    assert.equal(acc.tool_calls.length, 2, JSON.stringify(acc.tool_call_chunks));
    for (const tc of acc.tool_calls) {
      assert.equal(tc.name, 'get_weather');
      assert.ok(tc.id);
      assert.equal(typeof tc.args, 'object');
    }
    const r = await m.invoke('Weather in Paris and in Rome?');
    assert.equal(r.tool_calls.length, 2);
  });

  test(`${model}: image input (data URL)`, async () => {
    const r = await chat(model).invoke([new HumanMessage({
      content: [{ type: 'text', text: 'What is in this image?' }, { type: 'image_url', image_url: { url: pngDataURL } }],
    })]);
    assert.ok(r.content.length > 0);
  });
}

test('withStructuredOutput (json_schema)', async () => {
  const m = chat(models.json).withStructuredOutput({ ...weatherSchema, title: 'weather' }, { method: 'jsonSchema', strict: true });
  const r = await m.invoke('Weather in Paris.');
  assert.equal(typeof r.city, 'string');
  assert.equal(typeof r.temperature_c, 'number');
});

test('mid-stream error rejects the stream', async () => {
  await assert.rejects(collect(await chat(models.midstream).stream('Say hello.')));
});

test('402 insufficient credits is not retried', async () => {
  const f = countingFetch();
  await assert.rejects(chat(models.openai, { broke: true, fetch: f.fetch, maxRetries: 2 }).invoke('hi'), (err) => {
    assert.equal(err.status, 402, String(err));
    return true;
  });
  assertAttempts(f.calls, 1);
});

test('429 is retried after Retry-After', async () => {
  const f = countingFetch();
  await assert.rejects(chat(models.ratelimited, { fetch: f.fetch, maxRetries: 1 }).invoke('hi'), (err) => {
    assert.equal(err.status, 429, String(err));
    return true;
  });
  assertAttempts(f.calls, 2, 900);
});

// LangChain's AsyncCaller decides retries from the status (it never
// retries 400-407, 409, 413) and does not read x-should-retry, so the 502
// the gateway marks final is still retried: maxRetries: 1 makes 2 attempts.
test('502 is final at the gateway (x-should-retry: false) but LangChain retries 5xx', async () => {
  const f = countingFetch();
  await assert.rejects(chat(models.broken, { fetch: f.fetch, maxRetries: 1 }).invoke('hi'), (err) => {
    assert.equal(err.status, 502, String(err));
    assert.equal(err.headers?.get?.('x-should-retry') ?? err.headers?.['x-should-retry'], 'false');
    return true;
  });
  assertAttempts(f.calls, 2);
});

test('OpenAIEmbeddings', async () => {
  const e = new OpenAIEmbeddings({ model: models.embed, apiKey, configuration: { baseURL }, maxRetries: 0 });
  const q = await e.embedQuery('alpha');
  assert.equal(q.length, 1536);
  const d = await e.embedDocuments(['alpha', 'beta']);
  assert.equal(d.length, 2);
});
