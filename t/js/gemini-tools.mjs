// A three-turn tool conversation with a Gemini model through the gateway,
// driven by the official openai SDK, streamed and not.  Gemini 3 refuses
// a replayed function call without the thoughtSignature it came with; the
// SDK only echoes tool call ids, so the gateway must carry the signature
// in them.  The mock records what it received: every replayed call must
// hold the signature of the recorded sample.
//
// Environment as openai-sdk.mjs (GATEWAY_URL, GATEWAY_TOKEN, MOCK_URL,
// FIXTURES, NPM_DIR).  Prints one "ok"/"not ok" line per check.

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const require = createRequire(resolve(process.env.NPM_DIR || '.') + '/');
const OpenAI = require('openai');

const mock = process.env.MOCK_URL;
const fixtures = process.env.FIXTURES;

const client = new OpenAI({
    apiKey: process.env.GATEWAY_TOKEN, baseURL: process.env.GATEWAY_URL,
    maxRetries: 0, timeout: 15000,
});

// the signature the recorded samples carry, for each scenario model
function recordedSignature(file) {
    const text = readFileSync(`${fixtures}/${file}`, 'utf8');
    return text.match(/"thoughtSignature"\s*:\s*"([^"]+)"/)[1];
}

// streamed and non-streamed samples are separate recordings: each has its
// own signature
const scenarios = [
    { model: 'mock-thinking-fc',
      sig: recordedSignature('gemini_thinking_function_call_response.json'),
      streamSig: recordedSignature('gemini_stream_thinking_function_call.sse') },
    { model: 'mock-fc',
      sig: recordedSignature('gemini_function_call_response.json'),
      streamSig: recordedSignature('gemini_stream_function_call.sse') },
];

const tools = [{ type: 'function', function: {
    name: 'now', description: 'The current time.',
    parameters: { type: 'object', properties: {} } } }];

function assert(cond, msg) { if (!cond) throw new Error(msg); }

async function turn(model, messages, stream) {
    if (!stream) {
        const r = await client.chat.completions.create({ model, messages, tools });
        assert(r.choices[0].finish_reason === 'tool_calls',
               `finish ${r.choices[0].finish_reason}`);
        return r.choices[0].message;
    }

    const s = await client.chat.completions.create({ model, messages, tools, stream: true });
    const calls = [];
    let finish = null;
    for await (const c of s) {
        if (!c.choices.length) continue;
        for (const t of c.choices[0].delta.tool_calls || []) {
            calls[t.index] ??= { id: '', type: 'function', function: { name: '', arguments: '' } };
            if (t.id) calls[t.index].id = t.id;
            if (t.function?.name) calls[t.index].function.name = t.function.name;
            calls[t.index].function.arguments += t.function?.arguments || '';
        }
        if (c.choices[0].finish_reason) finish = c.choices[0].finish_reason;
    }
    assert(finish === 'tool_calls', `finish ${finish}`);
    return { role: 'assistant', content: null, tool_calls: calls };
}

// the functionCall parts of one recorded request body, with signatures
function replayed(record) {
    const body = JSON.parse(record.body);
    const out = [];
    for (const c of body.contents)
        for (const p of c.parts)
            if (p.functionCall) out.push(p.thoughtSignature ?? null);
    return out;
}

async function conversation(model, sig, stream) {
    await fetch(`${mock}/__mock/reset`);

    const messages = [{ role: 'user', content: 'What time is it, twice?' }];

    for (let i = 0; i < 3; i++) {
        const msg = await turn(model, messages, stream);
        assert(msg.tool_calls?.length === 1, `turn ${i + 1}: ${JSON.stringify(msg)}`);
        messages.push({ role: 'assistant', content: msg.content ?? null,
                        tool_calls: msg.tool_calls });
        messages.push({ role: 'tool', tool_call_id: msg.tool_calls[0].id,
                        content: JSON.stringify({ time: `12:0${i}` }) });
    }

    const records = await (await fetch(`${mock}/__mock/requests`)).json();
    const chats = records.filter(r => /:(stream)?[gG]enerateContent$/.test(r.path));
    assert(chats.length === 3, `requests ${chats.length}`);

    // turn 1 replays nothing, turn 2 one call, turn 3 two calls: each
    // with the recorded signature
    const seen = chats.map(replayed);
    assert(seen[0].length === 0, `turn 1 replayed ${seen[0].length}`);
    assert(seen[1].length === 1 && seen[1][0] === sig, `turn 2 ${JSON.stringify(seen[1])}`);
    assert(seen[2].length === 2 && seen[2].every(s => s === sig), `turn 3 ${JSON.stringify(seen[2])}`);

    // and the tool results went back under the function's name
    const last = JSON.parse(chats[2].body);
    const responses = last.contents.flatMap(c => c.parts).filter(p => p.functionResponse);
    assert(responses.length === 2 && responses.every(p => p.functionResponse.name),
           `responses ${JSON.stringify(responses)}`);
}

let n = 0;
for (const { model, sig, streamSig } of scenarios) {
    for (const stream of [false, true]) {
        n++;
        const name = `${model} ${stream ? 'streamed' : 'non-streamed'}: signatures round-trip over three turns`;
        try {
            await conversation(model, stream ? streamSig : sig, stream);
            console.log(`ok ${n} - ${name}`);
        } catch (e) {
            console.log(`not ok ${n} - ${name}: ${e.message}`);
        }
    }
}
