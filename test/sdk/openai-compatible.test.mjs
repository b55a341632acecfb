// The Vercel AI SDK with @ai-sdk/openai-compatible against the gateway.
// includeUsage asks for stream usage (stream_options.include_usage);
// supportsStructuredOutputs sends response_format json_schema.
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { apiKey, baseURL, brokeKey } from './env.mjs';
import { aiSdkCases } from './aisdk-cases.mjs';

function provider(opts = {}) {
  return createOpenAICompatible({
    name: 'tollgate',
    baseURL,
    apiKey: opts.broke ? brokeKey : apiKey,
    includeUsage: true,
    supportsStructuredOutputs: true,
    fetch: opts.fetch,
  });
}

aiSdkCases('openai-compatible', (id, opts) => provider(opts).chatModel(id), (id) => provider().embeddingModel(id));
