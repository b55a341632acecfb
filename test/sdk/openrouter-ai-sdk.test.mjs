// The Vercel AI SDK with @openrouter/ai-sdk-provider against the gateway:
// the gateway is a drop-in for OpenRouter, so only baseURL changes.
import { createOpenRouter } from '@openrouter/ai-sdk-provider';
import { apiKey, baseURL, brokeKey } from './env.mjs';
import { aiSdkCases } from './aisdk-cases.mjs';

function provider(opts = {}) {
  return createOpenRouter({ baseURL, apiKey: opts.broke ? brokeKey : apiKey, fetch: opts.fetch });
}

aiSdkCases('openrouter', (id, opts) => provider(opts).chat(id, { usage: { include: true } }), (id) => provider().textEmbeddingModel(id));
