// The official @google/genai SDK pointed at the gateway's native Gemini
// pass-through: it authenticates with a gateway token as its API key and
// must not notice it is not talking to Google.
//
// Environment: GATEWAY_BASE (http://127.0.0.1:PORT/gemini), GATEWAY_TOKEN,
// FIXTURES, NPM_DIR.  Prints one "ok"/"not ok" line per check.

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const require = createRequire(resolve(process.env.NPM_DIR || '.') + '/');
const { GoogleGenAI, ApiError } = require('@google/genai');

const fixtures = process.env.FIXTURES;
const base = process.env.GATEWAY_BASE;

function client(apiKey) {
    return new GoogleGenAI({ apiKey, httpOptions: { baseUrl: base, apiVersion: 'v1beta' } });
}

const ai = client(process.env.GATEWAY_TOKEN);

const generated = JSON.parse(readFileSync(`${fixtures}/gemini_generate_response.json`))
    .candidates[0].content.parts[0].text;

let streamed = '';
for (const line of readFileSync(`${fixtures}/gemini_stream_basic.sse`, 'utf8').split(/\r?\n/)) {
    if (line.startsWith('data: '))
        for (const p of JSON.parse(line.slice(6)).candidates[0].content.parts)
            streamed += p.text || '';
}

function assert(cond, msg) { if (!cond) throw new Error(msg); }

async function status(fn) {
    try { await fn(); } catch (e) {
        if (e instanceof ApiError) return e.status;
        throw e;
    }
    throw new Error('no error');
}

const checks = [
    ['generateContent returns the upstream text', async () => {
        const r = await ai.models.generateContent({ model: 'gemini-2.0-flash', contents: 'Where is Google?' });
        assert(r.text === generated, `text ${JSON.stringify(r.text)}`);
        assert(r.usageMetadata.totalTokenCount === 29, 'usage');
    }],
    ['generateContentStream streams the upstream chunks', async () => {
        let text = '', chunks = 0;
        for await (const c of await ai.models.generateContentStream({
                model: 'gemini-2.0-flash', contents: 'Capital of Wyoming?' })) {
            chunks++;
            text += c.text || '';
        }
        assert(text === streamed && chunks === 3, `text ${JSON.stringify(text)} in ${chunks}`);
    }],
    ['embedContent returns the recorded vector', async () => {
        const r = await ai.models.embedContent({ model: 'gemini-embedding-001', contents: 'hello' });
        assert(r.embeddings.length === 1 && r.embeddings[0].values.length === 8,
               JSON.stringify(r.embeddings));
    }],
    ['countTokens answers', async () => {
        const r = await ai.models.countTokens({ model: 'gemini-2.0-flash', contents: 'one two three' });
        assert(r.totalTokens === 3, `tokens ${r.totalTokens}`);
    }],
    ['models.list pages through the upstream list', async () => {
        const names = [];
        for await (const m of await ai.models.list({ config: { pageSize: 20 } })) names.push(m.name);
        assert(names.length > 20 && names.every(n => n.startsWith('models/')), `names ${names.length}`);
    }],
    ['a wrong gateway token is refused as a bad API key', async () => {
        const s = await status(() => client('wrong-token').models.generateContent({
            model: 'gemini-2.0-flash', contents: 'x' }));
        assert(s === 400, `status ${s}`);
    }],
    ['an upstream quota error reaches the SDK as it is', async () => {
        const s = await status(() => ai.models.generateContent({ model: 'mock-429', contents: 'x' }));
        assert(s === 429, `status ${s}`);
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
