// The cases the Vercel AI SDK (`ai`) runs through each of its
// OpenAI-compatible providers (@openrouter/ai-sdk-provider,
// @ai-sdk/openai-compatible). A provider file calls aiSdkCases with a
// function that builds a chat model and one that builds an embedding model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { APICallError, embed, embedMany, generateObject, generateText, jsonSchema, streamText, tool } from 'ai';
import {
  assertAttempts, chatModels, countingFetch, mockTokens, models, pngDataURL, weatherSchema, weatherToolParameters,
} from './env.mjs';

const tools = {
  get_weather: tool({ description: 'Weather of a city', inputSchema: jsonSchema(weatherToolParameters) }),
};

/**
 * aiSdkCases registers the suite for one provider.
 * @param {string} label provider name in the test titles
 * @param {(modelId: string, opts?: {fetch?: Function, apiKey?: string}) => any} chat
 * @param {(modelId: string) => any} embedding
 */
export function aiSdkCases(label, chat, embedding) {
  for (const id of chatModels) {
    test(`${label} ${id}: generateText`, async () => {
      const r = await generateText({ model: chat(id), prompt: 'Say hello.', maxRetries: 0 });
      assert.ok(r.text.length > 0);
      assert.equal(r.finishReason, 'stop');
      assert.equal(r.usage.outputTokens, mockTokens);
      assert.ok(r.usage.inputTokens > 0);
      assert.equal(r.response.modelId, id);
    });

    test(`${label} ${id}: streamText with usage`, async () => {
      const r = streamText({ model: chat(id), prompt: 'Say hello.', maxRetries: 0 });
      let text = '';
      for await (const delta of r.textStream) text += delta;
      assert.ok(text.length > 0);
      assert.equal(await r.finishReason, 'stop');
      const usage = await r.usage;
      assert.equal(usage.outputTokens, mockTokens);
      assert.ok(usage.inputTokens > 0);
    });

    test(`${label} ${id}: parallel tool calls, streamed`, async () => {
      const r = streamText({ model: chat(id), prompt: 'Weather in Paris and in Rome?', tools, maxRetries: 0 });
      const calls = [];
      for await (const part of r.fullStream) {
        if (part.type === 'error') throw part.error;
        if (part.type === 'tool-call') calls.push(part);
      }
      assert.equal(await r.finishReason, 'tool-calls');
      assert.equal(calls.length, 2);
      assert.notEqual(calls[0].toolCallId, calls[1].toolCallId);
      for (const c of calls) {
        assert.equal(c.toolName, 'get_weather');
        assert.equal(typeof c.input, 'object');
      }
      assert.ok((await r.usage).outputTokens > 0);
    });

    test(`${label} ${id}: parallel tool calls, generateText`, async () => {
      const r = await generateText({ model: chat(id), prompt: 'Weather in Paris and in Rome?', tools, maxRetries: 0 });
      assert.equal(r.finishReason, 'tool-calls');
      assert.equal(r.toolCalls.length, 2);
    });

    test(`${label} ${id}: image input (data URL)`, async () => {
      const r = await generateText({
        model: chat(id),
        maxRetries: 0,
        messages: [{
          role: 'user',
          content: [{ type: 'text', text: 'What is in this image?' }, { type: 'image', image: pngDataURL }],
        }],
      });
      assert.ok(r.text.length > 0);
    });
  }

  test(`${label}: generateObject with a JSON schema`, async () => {
    const r = await generateObject({
      model: chat(models.json), schema: jsonSchema(weatherSchema), prompt: 'Weather in Paris.', maxRetries: 0,
    });
    assert.equal(typeof r.object.city, 'string');
    assert.equal(typeof r.object.temperature_c, 'number');
    assert.ok(['sunny', 'cloudy', 'rain'].includes(r.object.conditions));
  });

  test(`${label}: mid-stream error surfaces as an error part`, async () => {
    const r = streamText({ model: chat(models.midstream), prompt: 'Say hello.', maxRetries: 0, onError: () => {} });
    const errors = [];
    let text = '';
    for await (const part of r.fullStream) {
      if (part.type === 'error') errors.push(part.error);
      if (part.type === 'text-delta') text += part.text;
    }
    assert.ok(text.length > 0, 'content came before the error');
    assert.equal(errors.length, 1, 'one error part');
    assert.equal(await r.finishReason, 'error');
  });

  test(`${label}: 402 insufficient credits is not retried`, async () => {
    const f = countingFetch();
    await assert.rejects(generateText({ model: chat(models.openai, { fetch: f.fetch, broke: true }), prompt: 'hi' }), (err) => {
      assert.ok(APICallError.isInstance(err), String(err));
      assert.equal(err.statusCode, 402);
      assert.equal(err.isRetryable, false);
      return true;
    });
    assertAttempts(f.calls, 1);
  });

  test(`${label}: 429 is retried after Retry-After`, async () => {
    const f = countingFetch();
    await assert.rejects(
      generateText({ model: chat(models.ratelimited, { fetch: f.fetch }), prompt: 'hi', maxRetries: 1 }),
      (err) => {
        // After the retries the SDK throws a RetryError with the last APICallError.
        const last = err.lastError ?? err;
        assert.ok(APICallError.isInstance(last), String(err));
        assert.equal(last.statusCode, 429);
        assert.equal(last.responseHeaders['retry-after'], '1');
        return true;
      },
    );
    assertAttempts(f.calls, 2, 900);
  });

  // The AI SDK decides retries from the status alone (408, 409, 429, 5xx)
  // and does not read x-should-retry, so a 502 the gateway marks final is
  // still retried; maxRetries: 1 keeps the case short.
  test(`${label}: 502 is final at the gateway (x-should-retry: false) but the AI SDK retries 5xx`, async () => {
    const f = countingFetch();
    await assert.rejects(
      generateText({ model: chat(models.broken, { fetch: f.fetch }), prompt: 'hi', maxRetries: 1 }),
      (err) => {
        const last = err.lastError ?? err;
        assert.ok(APICallError.isInstance(last), String(err));
        assert.equal(last.statusCode, 502);
        assert.equal(last.responseHeaders['x-should-retry'], 'false');
        return true;
      },
    );
    assertAttempts(f.calls, 2);
  });

  test(`${label}: embed and embedMany`, async () => {
    const one = await embed({ model: embedding(models.embed), value: 'alpha', maxRetries: 0 });
    assert.equal(one.embedding.length, 1536);
    const many = await embedMany({ model: embedding(models.embed), values: ['alpha', 'beta'], maxRetries: 0 });
    assert.equal(many.embeddings.length, 2);
    assert.ok(many.usage.tokens > 0);
  });
}
