// The official openai SDK as a real client of the gateway.
//
//   node t/js/openai-sdk.mjs
//
// Environment: GATEWAY_URL (base URL with /v1), GATEWAY_TOKEN, MOCK_URL
// (the mock upstream), FIXTURES (t/fixtures), NPM_DIR (where openai is
// installed).  Prints one "ok"/"not ok" line per check, in a fixed order,
// so the calling test compares the whole output.

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const require = createRequire(resolve(process.env.NPM_DIR || '.') + '/');
const OpenAI = require('openai');

const base = process.env.GATEWAY_URL;
const mock = process.env.MOCK_URL;
const fixtures = process.env.FIXTURES;

const client = new OpenAI({
    apiKey: process.env.GATEWAY_TOKEN, baseURL: base, maxRetries: 0,
    timeout: 15000,
});

const user = [{ role: 'user', content: 'What is the weather in San Francisco?' }];

// the text the mock's recorded samples carry
const nonStreamText = JSON.parse(readFileSync(`${fixtures}/openai_chat_response.json`))
    .choices[0].message.content;
let streamText = '';
for (const line of readFileSync(`${fixtures}/openai_stream_text.sse`, 'utf8').split('\n')) {
    if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
    const c = JSON.parse(line.slice(6));
    if (c.choices.length && c.choices[0].delta.content) streamText += c.choices[0].delta.content;
}

const checks = [];
function check(name, fn) { checks.push([name, fn]); }

async function expectError(cls, fn) {
    try {
        await fn();
    } catch (e) {
        if (e instanceof cls) return e;
        throw new Error(`expected ${cls.name}, got ${e.constructor.name}: ${e.message}`);
    }
    throw new Error(`expected ${cls.name}, got success`);
}

function assert(cond, msg) { if (!cond) throw new Error(msg); }

check('non-stream chat returns the upstream text', async () => {
    const r = await client.chat.completions.create({ model: 'gpt-4o', messages: user });
    assert(r.choices[0].message.content === nonStreamText, `content: ${r.choices[0].message.content}`);
    assert(r.choices[0].finish_reason === 'stop', `finish_reason ${r.choices[0].finish_reason}`);
    assert(r.usage.prompt_tokens === 14 && r.usage.completion_tokens === 37, 'usage');
});

check('streamed deltas concatenate to the upstream text', async () => {
    const stream = await client.chat.completions.create({
        model: 'gpt-4o', messages: user, stream: true,
        stream_options: { include_usage: true },
    });
    let text = '', finish = null, usage = null, chunks = 0;
    for await (const c of stream) {
        chunks++;
        if (c.usage) usage = c.usage;
        if (!c.choices.length) continue;
        text += c.choices[0].delta.content || '';
        if (c.choices[0].finish_reason) finish = c.choices[0].finish_reason;
    }
    assert(text === streamText, `text: ${JSON.stringify(text)}`);
    assert(finish === 'stop', `finish ${finish}`);
    assert(usage && usage.total_tokens > 0, 'usage chunk');
    assert(chunks > 3, `chunks ${chunks}`);
});

check('the first event reaches the client before the upstream sends the second', async () => {
    await fetch(`${mock}/__mock/reset`);
    const stream = await client.chat.completions.create({
        model: 'mock/stream-gated-sdk', messages: user, stream: true,
    });
    let first = true, text = '';
    for await (const c of stream) {
        if (first) {
            first = false;
            // the mock holds the rest of its stream until this arrives
            await fetch(`${mock}/__mock/release?id=sdk`);
        }
        if (c.choices.length) text += c.choices[0].delta.content || '';
    }
    const gates = await (await fetch(`${mock}/__mock/gates`)).json();
    const gate = gates.sdk || gates['sdk'];
    assert(gate && gate.released_before_second === true, `gate ${JSON.stringify(gates)}`);
    assert(text === streamText, 'gated stream text');
});

check('streamed tool calls assemble into arguments', async () => {
    const stream = await client.chat.completions.create({
        model: 'mock/tools', messages: user, stream: true,
    });
    const calls = {};
    let finish = null;
    for await (const c of stream) {
        if (!c.choices.length) continue;
        for (const t of c.choices[0].delta.tool_calls || []) {
            calls[t.index] ??= { name: '', args: '' };
            if (t.function?.name) calls[t.index].name = t.function.name;
            calls[t.index].args += t.function?.arguments || '';
        }
        if (c.choices[0].finish_reason) finish = c.choices[0].finish_reason;
    }
    const list = Object.values(calls);
    assert(list.length === 2, `calls ${JSON.stringify(calls)}`);
    for (const c of list) JSON.parse(c.args);
    assert(finish === 'tool_calls', `finish ${finish}`);
});

check('models.list() has configured and upstream models', async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    assert(ids.includes('gpt-4o'), `ids ${ids}`);
    assert(ids.includes('deepseek-ai/DeepSeek-V4-Pro'), `ids ${ids}`);
});

check('models.retrieve() works for ids with a slash', async () => {
    const m = await client.models.retrieve('deepseek-ai/DeepSeek-V4-Pro');
    assert(m.id === 'deepseek-ai/DeepSeek-V4-Pro', `id ${m.id}`);
});

check('a wrong token is an AuthenticationError', async () => {
    const bad = new OpenAI({ apiKey: 'wrong', baseURL: base, maxRetries: 0 });
    const e = await expectError(OpenAI.AuthenticationError,
        () => bad.chat.completions.create({ model: 'gpt-4o', messages: user }));
    assert(e.status === 401 && e.code === 'invalid_api_key', `code ${e.code}`);
});

check('an unknown model is a NotFoundError', async () => {
    const e = await expectError(OpenAI.NotFoundError,
        () => client.chat.completions.create({ model: 'no-such-model', messages: user }));
    assert(e.code === 'model_not_found', `code ${e.code}`);
});

check('bad input is a BadRequestError', async () => {
    const e = await expectError(OpenAI.BadRequestError,
        () => client.chat.completions.create({ model: 'gpt-4o', messages: [] }));
    assert(e.param === 'messages', `param ${e.param}`);
});

check('an error after the stream started raises in the iterator', async () => {
    const stream = await client.chat.completions.create({
        model: 'mock/error-mid-stream', messages: user, stream: true,
    });
    let chunks = 0;
    const e = await expectError(OpenAI.APIError, async () => {
        for await (const c of stream) chunks++;
    });
    assert(chunks >= 1, `chunks ${chunks}`);
    assert(/failed/i.test(e.message), `message ${e.message}`);
});

// last: the 429 cools the pool's only key down for the checks after it
check('an upstream 429 is a RateLimitError', async () => {
    const e = await expectError(OpenAI.RateLimitError,
        () => client.chat.completions.create({ model: 'mock/status-429', messages: user }));
    assert(e.status === 429, `status ${e.status}`);
    assert(e.headers.get('retry-after') === '7', 'retry-after');
});

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
