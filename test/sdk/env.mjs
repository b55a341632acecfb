// Shared settings of the SDK conformance suite. core/sdknode_test.go
// starts a gateway in front of `bench/mock` upstreams of all three wire
// protocols and runs `node --test` here with these variables set.
import assert from 'node:assert/strict';

function need(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: run this suite through \`go test -run TestSDKNode ./core/\``);
  }
  return v;
}

/** OpenAI/OpenRouter base URL of the gateway, e.g. http://127.0.0.1:PORT/api/v1. */
export const baseURL = need('TOLLGATE_BASE_URL');
/** Gateway root (Anthropic SDKs append /v1/messages themselves). */
export const rootURL = need('TOLLGATE_ROOT_URL');
/** Key of a funded account. */
export const apiKey = need('TOLLGATE_KEY');
/** Key of an account that cannot afford any request (402). */
export const brokeKey = need('TOLLGATE_BROKE_KEY');

/** The catalog of core/sdkcases_test.go (sdkModels). */
export const models = {
  openai: 'mock/gpt', // OpenAI-protocol upstream
  anthropic: 'mock/claude', // Anthropic Messages upstream
  gemini: 'mock/gemini', // Gemini upstream
  embed: 'mock/embed',
  json: 'mock/json', // answers response_format requests with schema-valid JSON
  midstream: 'mock/midstream-error', // upstream sends an error event after 3 events
  ratelimited: 'mock/ratelimited', // upstream always 429, Retry-After: 1
  broken: 'mock/broken', // upstream always 500: gateway 502 + x-should-retry: false
};

/** The three chat models, one per upstream wire protocol. */
export const chatModels = [models.openai, models.anthropic, models.gemini];

/** The mock generates this many completion tokens. */
export const mockTokens = 8;

/** A 1×1 PNG as a data URL. */
export const pngDataURL =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

/** JSON Schema of the structured-output cases. */
export const weatherSchema = {
  type: 'object',
  properties: {
    city: { type: 'string' },
    temperature_c: { type: 'number' },
    conditions: { type: 'string', enum: ['sunny', 'cloudy', 'rain'] },
  },
  required: ['city', 'temperature_c', 'conditions'],
  additionalProperties: false,
};

/** JSON Schema of the get_weather tool. */
export const weatherToolParameters = {
  type: 'object',
  properties: { city: { type: 'string' } },
  required: ['city'],
  additionalProperties: false,
};

/**
 * countingFetch wraps fetch and records each request's URL and the
 * response status, so tests can see how often an SDK retried.
 */
export function countingFetch() {
  const calls = [];
  const fetchFn = async (input, init) => {
    const url = typeof input === 'string' ? input : input.url ?? String(input);
    const call = { url, status: 0, at: Date.now() };
    calls.push(call);
    const resp = await fetch(input, init);
    call.status = resp.status;
    return resp;
  };
  return { fetch: fetchFn, calls };
}

/** assertAttempts checks n attempts, each at least minGapMs after the previous. */
export function assertAttempts(calls, n, minGapMs = 0) {
  assert.equal(calls.length, n, `attempts: ${JSON.stringify(calls)}`);
  for (let i = 1; i < calls.length; i++) {
    const gap = calls[i].at - calls[i - 1].at;
    assert.ok(gap >= minGapMs, `attempt ${i + 1} came ${gap} ms after the previous one, want >= ${minGapMs} ms`);
  }
}
