// The OpenAI Responses API (POST /responses) through openai-node
// (client.responses.create / .stream) and the Vercel AI SDK's
// @ai-sdk/openai, whose default model (openai('id')) speaks Responses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, jsonSchema, streamText, tool } from 'ai';
import { apiKey, baseURL, chatModels, countingFetch, mockTokens, models, weatherToolParameters } from './env.mjs';

const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
const openai = createOpenAI({ baseURL, apiKey });
const weatherTool = { type: 'function', name: 'get_weather', description: 'Weather of a city', parameters: weatherToolParameters, strict: false };

for (const model of chatModels) {
  test(`${model}: responses.create`, async () => {
    const r = await client.responses.create({ model, input: 'Say hello.' });
    assert.equal(r.object, 'response');
    assert.equal(r.status, 'completed');
    assert.ok(r.output_text.length > 0);
    assert.equal(r.usage.output_tokens, mockTokens);
    assert.equal(r.usage.total_tokens, r.usage.input_tokens + r.usage.output_tokens);
  });

  test(`${model}: responses.create stream: true, to completion`, async () => {
    const stream = await client.responses.create({ model, input: 'Say hello.', stream: true });
    let text = '';
    let completed;
    let seq = -1;
    for await (const ev of stream) {
      assert.ok(ev.sequence_number > seq, 'sequence numbers increase');
      seq = ev.sequence_number;
      if (ev.type === 'response.output_text.delta') text += ev.delta;
      if (ev.type === 'response.completed') completed = ev.response;
    }
    assert.ok(text.length > 0);
    assert.equal(completed.status, 'completed');
    assert.equal(completed.output_text ?? completed.output[0].content[0].text, text);
    assert.equal(completed.usage.output_tokens, mockTokens);
  });

  test(`${model}: responses.stream() helper with parallel function calls`, async () => {
    const stream = client.responses.stream({ model, input: 'Weather in Paris and in Rome?', tools: [weatherTool] });
    const final = await stream.finalResponse();
    const calls = final.output.filter((o) => o.type === 'function_call');
    assert.equal(calls.length, 2, JSON.stringify(final.output));
    for (const c of calls) {
      assert.equal(c.name, 'get_weather');
      assert.ok(c.call_id);
      JSON.parse(c.arguments);
    }
  });

  test(`${model}: @ai-sdk/openai (Responses) generateText and streamText`, async () => {
    const f = countingFetch();
    const g = await generateText({ model: createOpenAI({ baseURL, apiKey, fetch: f.fetch })(model), prompt: 'Say hello.', maxRetries: 0 });
    assert.ok(f.calls[0].url.endsWith('/responses'), f.calls[0].url);
    assert.ok(g.text.length > 0);
    assert.equal(g.usage.outputTokens, mockTokens);
    const s = streamText({ model: openai(model), prompt: 'Say hello.', maxRetries: 0 });
    let text = '';
    for await (const d of s.textStream) text += d;
    assert.ok(text.length > 0);
    assert.equal((await s.usage).outputTokens, mockTokens);
    assert.equal(await s.finishReason, 'stop');
  });

  test(`${model}: @ai-sdk/openai (Responses) parallel tool calls streamed`, async () => {
    const s = streamText({
      model: openai(model),
      prompt: 'Weather in Paris and in Rome?',
      tools: { get_weather: tool({ inputSchema: jsonSchema(weatherToolParameters) }) },
      maxRetries: 0,
    });
    const calls = [];
    for await (const part of s.fullStream) {
      if (part.type === 'error') throw part.error;
      if (part.type === 'tool-call') calls.push(part);
    }
    assert.equal(calls.length, 2);
    assert.equal(await s.finishReason, 'tool-calls');
  });
}

test('Responses mid-stream error: openai-node throws an APIError from the stream', async () => {
  const stream = await client.responses.create({ model: models.midstream, input: 'Say hello.', stream: true });
  const types = [];
  await assert.rejects(async () => {
    for await (const ev of stream) types.push(ev.type);
  }, (err) => err instanceof OpenAI.APIError && /injected by mock/.test(err.message));
  assert.ok(types.includes('response.output_text.delta'), 'content came before the error');
});

test('Responses mid-stream error: @ai-sdk/openai emits an error part', async () => {
  const s = streamText({ model: openai(models.midstream), prompt: 'Say hello.', maxRetries: 0, onError: () => {} });
  const errors = [];
  for await (const part of s.fullStream) if (part.type === 'error') errors.push(part.error);
  assert.ok(errors.length >= 1, 'an error part');
  assert.equal(await s.finishReason, 'error');
});
