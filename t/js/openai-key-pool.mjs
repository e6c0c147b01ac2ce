// The official openai SDK against a key pool whose first two keys fail:
// the SDK must see one plain success (the gateway tries the keys, not the
// SDK: maxRetries is 0), streamed and not.
//
//   node t/js/openai-key-pool.mjs
//
// Environment: GATEWAY_URL (base URL with /v1), GATEWAY_TOKEN, NPM_DIR.
// Prints one "ok"/"not ok" line per check.

import { createRequire } from 'node:module';
import { resolve } from 'node:path';

const require = createRequire(resolve(process.env.NPM_DIR || '.') + '/');
const OpenAI = require('openai');

const client = new OpenAI({
    apiKey: process.env.GATEWAY_TOKEN, baseURL: process.env.GATEWAY_URL,
    maxRetries: 0, timeout: 15000,
});

const messages = [{ role: 'user', content: 'What is the weather in San Francisco?' }];

const checks = [
    ['one success where the first keys answer 429 and 401', async () => {
        const { data, response } = await client.chat.completions
            .create({ model: 'a/b', messages }).withResponse();
        if (!data.choices[0].message.content) throw new Error('no content');
        const attempts = response.headers.get('x-attempts');
        if (attempts !== '3') throw new Error(`attempts ${attempts}`);
    }],
    ['the next request goes to the good key at once', async () => {
        const { response } = await client.chat.completions
            .create({ model: 'a/b', messages }).withResponse();
        const attempts = response.headers.get('x-attempts');
        if (attempts !== '1') throw new Error(`attempts ${attempts}`);
    }],
    ['a stream is served by the good key', async () => {
        const stream = await client.chat.completions.create({
            model: 'a/b', messages, stream: true,
        });
        let text = '';
        for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
        if (!text) throw new Error('empty stream');
    }],
];

let n = 0;
for (const [name, fn] of checks) {
    n++;
    try {
        await fn();
        console.log(`ok ${n} - ${name}`);
    } catch (e) {
        console.log(`not ok ${n} - ${name}: ${e.message}`);
    }
}
