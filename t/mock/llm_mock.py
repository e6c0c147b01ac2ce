#!/usr/bin/env python3
"""Scriptable mock of the LLM upstreams: the Hugging Face router (OpenAI-shaped)
and the Gemini Developer API (v1beta).

The ngx_llm_gateway tests and benchmarks point nginx at this server instead of
https://router.huggingface.co/v1 and https://generativelanguage.googleapis.com.
Both APIs are served by the same process on the same port: the router's
OpenAI-compatible API under /v1/, Gemini's under /v1beta/.  Responses come
from the recorded samples in t/fixtures/ (sent byte for byte); every request
is recorded; a test picks a behaviour (error status, slow start, stalled or
broken stream, ...) through the model: the "model" value of the chat request
for the router, the {model} segment of the URL path for Gemini, because that
is the one thing the gateway always forwards.

Python 3 standard library only.  See t/mock/README.md for the full list of
endpoints and scenarios.

Usage:
    python3 t/mock/llm_mock.py [--host 127.0.0.1] [--port N] [--fixtures DIR]
                               [--pidfile F] [--log F] [--max-records N]
                               [--gate-timeout SECONDS]

Once listening it prints "READY <port>" on stdout.  SIGTERM / SIGINT stop it.

Design: one asyncio event loop (a selector loop, no threads) serving
HTTP/1.1 with keep-alive and pipelining; request bodies may use
Content-Length or chunked encoding; non-stream responses carry
Content-Length and leave in a single send; SSE responses are chunked, one
event per chunk per send (TCP_NODELAY), then the terminating 0-chunk.
HTTP/1.0 clients get SSE unchunked, delimited by connection close.

Labelling: every response body that does not come from a fixture file is
marked "CONSTRUCTED by the mock" where it is built below.  Nothing built here
is a recording of real traffic.
"""

import argparse
import asyncio
import collections
import copy
import email.utils
import http
import itertools
import json
import logging
import os
import re
import signal
import socket
import struct
import sys
import time
import urllib.parse

log = logging.getLogger("llm_mock")

# Longest a stream-gated scenario waits for its release, in seconds
# (--gate-timeout changes it).
GATE_TIMEOUT = 10.0

# Fixture files the mock serves.  All are required at startup.
FIXTURE_FILES = {
    "chat": "openai_chat_response.json",
    "chat_tools": "openai_chat_response_tool_calls.json",
    "chat_length": "openai_chat_response_finish_length.json",
    "chat_refusal": "openai_chat_response_refusal.json",
    "chat_n3": "openai_chat_response_multiple_choices_n3.json",
    "stream_text": "openai_stream_text.sse",
    "stream_tools": "openai_stream_with_tool_calls.sse",
    "models_item": "hf_router_models_item.json",
    "err_object": "hf_router_error_400_model_not_supported_constructed.json",
    "err_401": "openai_error_401.json",
    "err_string": "hf_hub_error_401.json",
}

# Gemini Developer API (v1beta) fixture files, also all required at startup.
GEMINI_FIXTURE_FILES = {
    "generate": "gemini_generate_response.json",
    "thinking_fc": "gemini_thinking_function_call_response.json",
    "fc": "gemini_function_call_response.json",
    "code": "gemini_code_execution_response.json",
    "search": "gemini_google_search_grounding_response.json",
    "safety": "gemini_finish_reason_safety_response.json",
    "stream_basic": "gemini_stream_basic.sse",
    "stream_thinking_fc": "gemini_stream_thinking_function_call.sse",
    "stream_thinking_text": "gemini_stream_thinking_text.sse",
    "stream_fc": "gemini_stream_function_call.sse",
    "stream_code": "gemini_stream_code_execution_intermediate_finish.sse",
    "stream_blocked": "gemini_stream_prompt_blocked.sse",
    "stream_max_tokens": "gemini_stream_max_tokens.sse",
    "models_list": "gemini_models_list.json",
    "embed": "gemini_batch_embed_response_truncated.json",
    "err_400_key": "gemini_error_400_api_key_invalid.json",
    "err_403": "gemini_error_403_service_disabled.json",
    "err_404": "gemini_error_404_model_not_found.json",
    "err_404_stream": "gemini_stream_error_404_body.txt",
    "err_429": "gemini_error_429.json",
}


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

def split_sse(data):
    """Split an SSE byte stream into events, each keeping its terminator.

    b"".join(split_sse(x)) == x always holds, so sending the pieces one by
    one puts exactly the fixture bytes on the wire.
    """
    events = []
    start = 0
    for m in re.finditer(rb"\r\n\r\n|\n\n|\r\r", data):
        events.append(data[start:m.end()])
        start = m.end()
    if start < len(data):
        events.append(data[start:])
    return events


def sse_event(obj):
    """Serialise one SSE event in the fixtures' style (compact JSON)."""
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def sse_payload(event):
    """JSON object carried by a `data: {...}` event."""
    text = event.decode("utf-8").strip()
    assert text.startswith("data: "), text[:40]
    return json.loads(text[len("data: "):])


def error_envelope(message, etype="invalid_request_error", param=None, code=None):
    """OpenAI object error envelope.  CONSTRUCTED by the mock (used only where
    no recorded body fits: mock-level errors such as invalid JSON, unknown
    route, unknown model)."""
    return json.dumps({"error": {"message": message, "type": etype,
                                 "param": param, "code": code}}).encode()


# Entries of GET /v1/models besides the recorded one.  CONSTRUCTED by the
# mock: same shape as hf_router_models_item.json, values illustrative.  The
# last entry deliberately has no "providers" key (provider info is optional
# per entry in the router's listing).
CONSTRUCTED_MODELS = [
    {
        "id": "meta-llama/Llama-3.1-8B-Instruct",
        "object": "model",
        "created": 1721174400,
        "owned_by": "meta-llama",
        "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
        "providers": [
            {"provider": "cerebras", "status": "live", "context_length": 32768,
             "pricing": {"input": 0.1, "output": 0.1}, "supports_tools": True,
             "supports_structured_output": True, "first_token_latency_ms": 210.5,
             "throughput": 2011.3, "is_model_author": False},
            {"provider": "novita", "status": "live", "context_length": 16384,
             "pricing": {"input": 0.02, "output": 0.05}, "supports_tools": False,
             "supports_structured_output": False, "first_token_latency_ms": 820,
             "throughput": 75.2, "is_model_author": False},
        ],
    },
    {
        "id": "Qwen/Qwen3-32B",
        "object": "model",
        "created": 1745884800,
        "owned_by": "Qwen",
        "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
        "providers": [
            {"provider": "groq", "status": "live", "context_length": 131072,
             "pricing": {"input": 0.29, "output": 0.59}, "supports_tools": True,
             "supports_structured_output": False, "first_token_latency_ms": 301.2,
             "throughput": 402.7, "is_model_author": False},
            {"provider": "nebius", "status": "error", "context_length": 40960,
             "pricing": {"input": 0.1, "output": 0.3}, "supports_tools": True,
             "supports_structured_output": True, "is_model_author": False},
        ],
    },
    {
        "id": "openai/gpt-oss-120b",
        "object": "model",
        "created": 1754352000,
        "owned_by": "openai",
        "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
        "providers": [
            {"provider": "groq", "status": "live", "context_length": 131072,
             "pricing": {"input": 0.15, "output": 0.75}, "supports_tools": True,
             "supports_structured_output": True, "first_token_latency_ms": 250,
             "throughput": 480.1, "is_model_author": False},
        ],
    },
    {
        "id": "HuggingFaceTB/SmolLM3-3B",
        "object": "model",
        "created": 1751932800,
        "owned_by": "HuggingFaceTB",
        "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
    },
]

# Reasoning text used by mock/reasoning.  CONSTRUCTED by the mock.
REASONING_PIECES = ["The user asks", " about the weather.", " I have no",
                    " live data, so I should say so."]

# Small HTML error page for mock/status-<code>-html.  CONSTRUCTED by the mock,
# shaped like the page a fronting proxy / load balancer returns.
HTML_ERROR_PAGE = ("<html>\r\n<head><title>{code} {reason}</title></head>\r\n"
                   "<body>\r\n<center><h1>{code} {reason}</h1></center>\r\n"
                   "</body>\r\n</html>\r\n")

# Body of mock/bad-json: a chat completion cut off mid-object.  CONSTRUCTED.
BAD_JSON_BODY = b'{"id":"chatcmpl-mock","object":"chat.completion","choices":[{"index":0,"message":{"role":"assis'

# Messages of the mock/error-mid-stream events.  CONSTRUCTED by the mock.
MID_STREAM_ERROR = "The upstream provider failed while generating the response."


# -- Gemini -----------------------------------------------------------------

def gemini_status(code, status, message):
    """google.rpc.Status error body, pretty-printed as Google sends it.
    CONSTRUCTED by the mock (used where no recorded body fits)."""
    return json.dumps({"error": {"code": code, "message": message, "status": status}},
                      indent=2).encode() + b"\n"


def gemini_json(obj):
    """A Gemini JSON response body built by the mock (pretty-printed, UTF-8,
    like the recorded ones).  Callers are CONSTRUCTED responses."""
    return json.dumps(obj, indent=2, ensure_ascii=False).encode() + b"\n"


def gemini_sse_event(obj):
    """One Gemini SSE event: compact JSON, "\r\n\r\n" after it, the framing of
    live traffic.  Every event made this way is CONSTRUCTED framing."""
    return (b"data: " + json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
            + b"\r\n\r\n")


def gemini_merge_stream(events):
    """One GenerateContentResponse from the chunks of a stream.  CONSTRUCTED
    by the mock (no recorded non-stream counterpart exists): the parts of all
    chunks in order, runs of plain text parts (and runs of thought parts)
    concatenated into one part, parts carrying a thoughtSignature or any
    other field kept as they are; finishReason/finishMessage, usageMetadata,
    modelVersion and responseId from the last chunk that has them."""
    parts = []
    cand = {}
    top = {}
    for ev in events:
        obj = sse_payload(ev)
        for c in obj.get("candidates") or []:
            for part in (c.get("content") or {}).get("parts") or []:
                prev = parts[-1] if parts else None
                keys = set(part)
                if (prev is not None and keys in ({"text"}, {"text", "thought"})
                        and set(prev) == keys and prev.get("thought") == part.get("thought")):
                    prev["text"] += part["text"]
                else:
                    parts.append(dict(part))
            for k in ("finishReason", "finishMessage", "safetyRatings", "index"):
                if k in c:
                    cand[k] = c[k]
        for k in ("promptFeedback", "usageMetadata", "modelVersion", "responseId"):
            if k in obj:
                top[k] = obj[k]
    out = {}
    if parts or cand:
        c = {"content": {"parts": parts, "role": "model"}}
        c.update(cand)
        out["candidates"] = [c]
    out.update(top)
    return out


def gemini_reframe(events, sep):
    """Events with their terminator replaced by `sep` ("\r\n\r\n" or "\n\n")
    and the line ends inside an event made to match.  CONSTRUCTED framing."""
    eol = sep[:len(sep) // 2]
    out = []
    for ev in events:
        body = re.sub(rb"(\r\n|\n|\r)+$", b"", ev)
        out.append(re.sub(rb"\r\n|\n|\r", eol, body) + sep)
    return out


def count_words(obj):
    """Whitespace-separated words in every text part of a request
    (countTokens).  The count is a CONSTRUCTED stand-in for tokens."""
    n = 0
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "parts" and isinstance(v, list):
                n += sum(len(p["text"].split()) for p in v
                         if isinstance(p, dict) and isinstance(p.get("text"), str))
            n += count_words(v)
    elif isinstance(obj, list):
        n += sum(count_words(v) for v in obj)
    return n


# Message of a request with no API key.  CONSTRUCTED (403 PERMISSION_DENIED
# body; the message is the one Google's API front end gives such callers).
GEMINI_NO_KEY = ("Method doesn't allow unregistered callers (callers without established "
                 "identity). Please use API Key or other form of API consumer identity to "
                 "call this API.")

# Bodies of mock-500 / mock-503 and of the mock-error-mid-stream error.
# CONSTRUCTED by the mock (google.rpc.Status shape; no recorded 500/503 body).
GEMINI_500_MESSAGE = ("An internal error has occurred. Please retry or report in "
                      "https://developers.generativeai.google/guide/troubleshooting")
GEMINI_503_MESSAGE = "The model is overloaded. Please try again later."

# models.list page size when the request gives none (Google's documented default).
GEMINI_PAGE_SIZE = 50
GEMINI_MAX_PAGE_SIZE = 1000

# Scenario models that need no parameter (matched exactly, after "mock-").
GEMINI_SCENARIOS = {
    "thinking-fc", "thinking-text", "fc", "code", "search", "safety", "blocked",
    "max-tokens", "error-mid-stream", "crlf", "lf", "reset-mid-stream",
    "truncate-mid-stream", "echo",
}


# ---------------------------------------------------------------------------
# Fixtures and canned responses
# ---------------------------------------------------------------------------

class Fixtures:
    """Loads the fixture files once and precomputes response bodies."""

    def __init__(self, directory):
        self.dir = directory
        raw = {}
        for key, name in FIXTURE_FILES.items():
            path = os.path.join(directory, name)
            with open(path, "rb") as f:
                raw[key] = f.read()
        self.raw = raw

        # Non-stream chat bodies, fixture bytes as they are.
        self.chat = raw["chat"]
        self.chat_tools = raw["chat_tools"]
        self.chat_length = raw["chat_length"]
        self.chat_refusal = raw["chat_refusal"]
        self.chat_n3 = raw["chat_n3"]
        self.chat_obj = json.loads(self.chat)

        # Stream event lists; joined they are the fixture bytes.
        self.stream_text = split_sse(raw["stream_text"])
        self.stream_tools = split_sse(raw["stream_tools"])
        for key, events in (("stream_text", self.stream_text),
                            ("stream_tools", self.stream_tools)):
            assert b"".join(events) == raw[key]
            assert len(events) >= 4, key

        # Error bodies.
        self.err_object = raw["err_object"]
        self.err_401 = raw["err_401"]
        self.err_string = raw["err_string"]

        # /v1/models: the recorded element verbatim, then the constructed
        # ones, in a compact list envelope.
        item = raw["models_item"].rstrip()
        self.models = {json.loads(item)["id"]: raw["models_item"]}
        parts = [item]
        for entry in CONSTRUCTED_MODELS:
            body = json.dumps(entry, indent=2).encode()
            self.models[entry["id"]] = body + b"\n"
            parts.append(body)
        self.models_list = b'{"object":"list","data":[' + b",".join(parts) + b"]}"

        self.gemini = GeminiFixtures(directory)

    # -- stream variants ---------------------------------------------------

    def stream_finish_index(self, events):
        """Index of the event carrying the final finish_reason."""
        for i, ev in enumerate(events):
            if re.search(rb'"finish_reason":\s*"[a-z_]+"', ev):
                return i
        raise ValueError("no finish event in stream fixture")

    def stream_with_finish(self, value_json):
        """Text stream with the finish chunk's finish_reason replaced.
        CONSTRUCTED variation (TGI-style backends report eos_token etc.)."""
        events = list(self.stream_text)
        i = self.stream_finish_index(events)
        events[i] = re.sub(rb'("finish_reason":\s*)"[a-z_]+"',
                           lambda m: m.group(1) + value_json, events[i], count=1)
        return events

    def chat_with_finish(self, value_json):
        """Non-stream body with finish_reason replaced.  CONSTRUCTED variation;
        every other byte is the fixture's."""
        return re.sub(rb'("finish_reason":\s*)"[a-z_]+"',
                      lambda m: m.group(1) + value_json, self.chat)

    def _content_event(self, delta):
        """A copy of the fixture's second event (a content delta) with another
        delta.  CONSTRUCTED by the mock."""
        obj = sse_payload(self.stream_text[1])
        obj["choices"][0]["delta"] = delta
        return sse_event(obj)

    def stream_reasoning(self):
        """Role event, reasoning deltas, then the recorded content deltas.
        The reasoning events are CONSTRUCTED (DeepSeek-style
        `{"content":null,"reasoning_content":...}` deltas)."""
        ev = self.stream_text
        reasoning = [self._content_event({"content": None, "reasoning_content": p})
                     for p in REASONING_PIECES]
        return [ev[0]] + reasoning + ev[1:]

    def chat_reasoning(self):
        """Non-stream body with message.reasoning_content.  CONSTRUCTED."""
        obj = copy.deepcopy(self.chat_obj)
        msg = obj["choices"][0]["message"]
        obj["choices"][0]["message"] = {
            "role": msg["role"], "content": msg["content"],
            "reasoning_content": "".join(REASONING_PIECES),
            "refusal": msg.get("refusal")}
        return json.dumps(obj, indent=2).encode() + b"\n"

    def stream_error_mid(self, string_envelope):
        """Two recorded events then an error event.  The error event is
        CONSTRUCTED (object envelope, or the Hub-style string envelope)."""
        if string_envelope:
            err = {"error": MID_STREAM_ERROR}
        else:
            err = {"error": {"message": MID_STREAM_ERROR, "type": "server_error",
                             "param": None, "code": None}}
        return self.stream_text[:2] + [sse_event(err)]

    def chat_echo(self, text):
        """Non-stream completion whose content is `text`.  CONSTRUCTED from the
        default fixture (only message.content differs)."""
        obj = copy.deepcopy(self.chat_obj)
        obj["choices"][0]["message"]["content"] = text
        return json.dumps(obj, indent=2).encode() + b"\n"

    def stream_echo(self, text):
        """Role event, one content event carrying `text`, then the recorded
        finish, usage and [DONE] events.  The content event is CONSTRUCTED."""
        ev = self.stream_text
        fin = self.stream_finish_index(ev)
        return [ev[0], self._content_event({"content": text})] + ev[fin:]


class GeminiFixtures:
    """Gemini v1beta fixtures and the responses built from them.

    Attributes named after a fixture hold its bytes unchanged; everything
    else is marked CONSTRUCTED where it is built."""

    def __init__(self, directory):
        raw = {}
        for key, name in GEMINI_FIXTURE_FILES.items():
            with open(os.path.join(directory, name), "rb") as f:
                raw[key] = f.read()
        self.raw = raw

        # Non-stream bodies, fixture bytes.
        self.generate = raw["generate"]
        self.generate_obj = json.loads(raw["generate"])
        self.thinking_fc = raw["thinking_fc"]
        self.fc = raw["fc"]
        self.code = raw["code"]
        self.search = raw["search"]
        self.safety = raw["safety"]

        # Streams: event lists whose concatenation is the fixture.
        self.streams = {}
        for key in ("stream_basic", "stream_thinking_fc", "stream_thinking_text",
                    "stream_fc", "stream_code", "stream_blocked", "stream_max_tokens"):
            events = split_sse(raw[key])
            assert b"".join(events) == raw[key], key
            for ev in events:
                sse_payload(ev)             # every event carries one JSON object
            self.streams[key] = events
        self.stream_basic = self.streams["stream_basic"]
        assert len(self.stream_basic) >= 3

        # Streams built around a non-stream fixture: one event carrying it.
        # CONSTRUCTED framing (no recorded stream of these responses).
        self.stream_search = [gemini_sse_event(json.loads(self.search))]
        self.stream_safety = [gemini_sse_event(json.loads(self.safety))]

        # Non-stream bodies made from a recorded stream.  CONSTRUCTED.
        self.thinking_text = gemini_json(gemini_merge_stream(self.streams["stream_thinking_text"]))
        self.max_tokens = gemini_json(gemini_merge_stream(self.streams["stream_max_tokens"]))
        # mock-blocked non-stream: the JSON of the stream's only event, bytes
        # as recorded minus the "data: " prefix and line end.  CONSTRUCTED
        # unwrapping.
        ev = self.streams["stream_blocked"][0]
        self.blocked = ev[len(b"data: "):].rstrip(b"\r\n") + b"\n"
        json.loads(self.blocked)

        # Framing variants of the basic stream.  CONSTRUCTED.
        self.stream_crlf = gemini_reframe(self.stream_basic, b"\r\n\r\n")
        self.stream_lf = gemini_reframe(self.stream_basic, b"\n\n")

        # Errors, fixture bytes.
        self.err_400_key = raw["err_400_key"]
        self.err_403 = raw["err_403"]
        self.err_404 = raw["err_404"]
        self.err_404_stream = raw["err_404_stream"]
        self.err_429 = raw["err_429"]
        self.err_404_model = json.loads(raw["err_404"])["error"]["message"].split(" ", 1)[0]
        # CONSTRUCTED error bodies.
        self.err_500 = gemini_status(500, "INTERNAL", GEMINI_500_MESSAGE)
        self.err_503 = gemini_status(503, "UNAVAILABLE", GEMINI_503_MESSAGE)
        self.err_no_key = gemini_status(403, "PERMISSION_DENIED", GEMINI_NO_KEY)

        # models.list content: the recorded list, in order.
        self.models = json.loads(raw["models_list"])["models"]
        self.models_by_name = {m["name"]: m for m in self.models}

        # Recorded embeddings (8 leading floats each).
        self.embeddings = [e["values"] for e in json.loads(raw["embed"])["embeddings"]]
        assert self.embeddings

    def not_found(self, model):
        """404 for an unknown model: the recorded body with its model name
        replaced by `model` (CONSTRUCTED message unless `model` is the one
        recorded, in which case the bytes are the fixture's)."""
        name = json.dumps("models/" + model)[1:-1].encode()
        return self.err_404.replace(self.err_404_model.encode(), name)

    def error_mid_stream(self):
        """Two recorded events, then a bare pretty-printed google.rpc.Status
        object (no "data: " prefix).  The error object is CONSTRUCTED."""
        return self.stream_basic[:2] + [gemini_status(500, "INTERNAL", GEMINI_500_MESSAGE)]

    def echo_obj(self, text):
        """gemini_generate_response.json with its single text part replaced
        by `text`.  CONSTRUCTED."""
        obj = copy.deepcopy(self.generate_obj)
        obj["candidates"][0]["content"]["parts"] = [{"text": text}]
        return obj


# ---------------------------------------------------------------------------
# Shared state: request records and gates
#
# The server runs on one asyncio event loop, so this state needs no locks.
# ---------------------------------------------------------------------------

class Gate:
    """Release point for mock/stream-gated-<name>."""

    def __init__(self, name, timeout=GATE_TIMEOUT):
        self.name = name
        self.timeout = timeout          # longest wait before the 2nd event
        self.event = asyncio.Event()
        self.used = False               # a stream has claimed this gate
        self.first_sent_at = None
        self.released_at = None
        self.second_sent_at = None
        self.released_before_second = None
        self.timed_out = False

    def state(self):
        if self.second_sent_at is not None:
            st = "done"
        elif self.first_sent_at is not None:
            st = "released" if self.event.is_set() else "waiting"
        else:
            st = "released" if self.event.is_set() else "created"
        return {"name": self.name, "state": st,
                "first_sent_at": self.first_sent_at,
                "released_at": self.released_at,
                "second_sent_at": self.second_sent_at,
                "released_before_second": self.released_before_second,
                "timed_out": self.timed_out}


class State:
    def __init__(self, max_records, gate_timeout=GATE_TIMEOUT):
        self.gate_timeout = gate_timeout
        self.records = collections.deque(maxlen=max_records)
        self.seen_keys = set()
        self.seq = itertools.count(1)
        self.gates = {}

    def add_record(self, rec):
        rec["id"] = next(self.seq)
        self.records.append(rec)

    def reset(self):
        gates, self.gates = self.gates, {}
        self.records.clear()
        # Wake up streams still waiting so they finish instead of hanging.
        for g in gates.values():
            g.event.set()

    def claim_gate(self, name):
        """Gate for a new gated stream: a pre-released unused gate is reused,
        otherwise a fresh one replaces whatever had this name."""
        g = self.gates.get(name)
        if g is None or g.used:
            g = Gate(name, self.gate_timeout)
            self.gates[name] = g
        g.used = True
        return g

    def release_gate(self, name):
        g = self.gates.get(name)
        if g is None:
            g = Gate(name, self.gate_timeout)   # released before its stream arrived
            self.gates[name] = g
        if g.released_at is None:
            g.released_at = time.time()
        g.event.set()
        return g.state()


# ---------------------------------------------------------------------------
# HTTP/1.1 server (asyncio streams, one event loop, keep-alive)
# ---------------------------------------------------------------------------

class BadRequest(Exception):
    """Unparseable request: answered with 400 and the connection closed."""


class ConnectionCut(Exception):
    """Raised after a scenario has deliberately cut the connection."""


class Request:
    __slots__ = ("method", "target", "path", "query", "version", "headers",
                 "body", "chunked", "keep_alive")

    def header(self, name, default=None):
        """First value of header `name` (case-insensitive)."""
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default


# Largest request head (request line + headers) accepted.
MAX_HEAD = 1 << 20


async def read_request(reader, writer):
    """Read one request from the connection; None on a clean EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        if not e.partial.strip():
            return None                 # client closed between requests
        raise BadRequest("incomplete request head")
    except asyncio.LimitOverrunError:
        raise BadRequest("request head too large")

    lines = head[:-4].split(b"\r\n")
    while lines and not lines[0]:       # tolerate stray CRLFs between requests
        lines.pop(0)
    if not lines:
        raise BadRequest("empty request")
    parts = lines[0].decode("latin-1").split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest("bad request line %r" % lines[0][:100])

    req = Request()
    req.method, req.target, req.version = parts
    url = urllib.parse.urlsplit(req.target)
    req.path, req.query = url.path, url.query
    req.headers = []
    for line in lines[1:]:
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest("bad header line %r" % line[:100])
        req.headers.append([name, value.strip()])

    conn_hdr = (req.header("Connection") or "").lower()
    if req.version == "HTTP/1.1":
        req.keep_alive = "close" not in conn_hdr
    else:
        req.keep_alive = "keep-alive" in conn_hdr

    if (req.header("Expect") or "").lower() == "100-continue" and req.version == "HTTP/1.1":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    # Body: chunked wins over Content-Length, as in RFC 9112.
    req.chunked = "chunked" in (req.header("Transfer-Encoding") or "").lower()
    try:
        if req.chunked:
            parts = []
            while True:
                line = await reader.readline()
                if not line.endswith(b"\n"):
                    raise BadRequest("EOF in chunked body")
                size = int(line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while (await reader.readline()).strip():   # trailers
                        pass
                    break
                parts.append(await reader.readexactly(size))
                await reader.readline()                         # CRLF after data
            req.body = b"".join(parts)
        else:
            length = req.header("Content-Length")
            n = int(length) if length else 0
            if n < 0:
                raise ValueError("negative Content-Length")
            req.body = await reader.readexactly(n) if n else b""
    except (ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as e:
        raise BadRequest("unreadable request body: %s" % e)
    return req


class Exchange:
    """The response side of one request on one connection."""

    _date = (0, "")

    def __init__(self, conn, req):
        self.conn = conn
        self.req = req
        self.writer = conn.writer
        self.keep_alive = req.keep_alive
        self.headers_sent = False
        self.record = None              # set for recorded (non-control) requests

    @classmethod
    def http_date(cls):
        now = int(time.time())
        if cls._date[0] != now:
            cls._date = (now, email.utils.formatdate(now, usegmt=True))
        return cls._date[1]

    def head(self, status, headers):
        """Status line + headers, marking the response as started."""
        self.headers_sent = True
        if self.record is not None:
            self.record["status"] = status
        reason = REASONS.get(status, "Status %d" % status)
        out = ["HTTP/1.1 %d %s\r\nServer: llm-mock\r\nDate: %s\r\n"
               % (status, reason, self.http_date())]
        for name, value in headers:
            out.append("%s: %s\r\n" % (name, value))
        if not self.keep_alive:
            out.append("Connection: close\r\n")
        elif self.req.version == "HTTP/1.0":
            out.append("Connection: keep-alive\r\n")
        out.append("\r\n")
        return "".join(out).encode("latin-1")

    async def reply(self, status, body, content_type="application/json", extra=()):
        """Complete response with Content-Length, written in one send."""
        if status in (204, 304):
            hdrs = [("Content-Type", content_type)]     # no body, no length
        else:
            hdrs = [("Content-Type", content_type), ("Content-Length", len(body))]
        hdrs.extend(extra)
        self.writer.write(self.head(status, hdrs) + body)
        await self.writer.drain()

    async def reply_json(self, status, obj):
        await self.reply(status, json.dumps(obj, indent=1).encode() + b"\n")

    async def flushed(self):
        """Wait (bounded) until everything written so far left the process."""
        transport = self.writer.transport
        for _ in range(200):
            if transport.is_closing() or transport.get_write_buffer_size() == 0:
                return
            await asyncio.sleep(0.005)

    async def abort(self, rst):
        """Cut the connection: TCP reset (SO_LINGER 0) or clean FIN."""
        self.keep_alive = False
        await self.flushed()
        transport = self.writer.transport
        if rst:
            sock = self.writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        else:
            if transport.can_write_eof():
                transport.write_eof()   # shutdown(SHUT_WR): FIN, no 0-chunk
            transport.close()
        raise ConnectionCut()

    async def stream(self, events, delay=0.0, gate=None, end="normal"):
        """Send `events` as one SSE response, one event per chunk per send.

        delay: seconds to sleep between events.
        gate:  Gate to wait on (up to gate.timeout) between events 1 and 2.
        end:   "normal" (0-chunk), "reset" (TCP RST), "truncate" (FIN, no 0-chunk).
        """
        # An HTTP/1.0 client cannot take chunked encoding: it gets the plain
        # body, delimited by closing the connection.
        chunked = self.req.version == "HTTP/1.1"
        if chunked:
            hdrs = [("Content-Type", "text/event-stream"), ("Transfer-Encoding", "chunked")]
        else:
            self.keep_alive = False
            hdrs = [("Content-Type", "text/event-stream")]
        w = self.writer
        w.write(self.head(200, hdrs))
        for i, ev in enumerate(events):
            if i > 0 and delay:
                await asyncio.sleep(delay)
            if gate is not None and i == 1:
                try:
                    await asyncio.wait_for(gate.event.wait(), gate.timeout)
                except asyncio.TimeoutError:
                    gate.timed_out = True
                gate.released_before_second = gate.event.is_set()
                gate.second_sent_at = time.time()
            if gate is not None and i == 0:
                gate.first_sent_at = time.time()
            w.write(b"%x\r\n%s\r\n" % (len(ev), ev) if chunked else ev)
            await w.drain()
        if end != "normal":
            await self.abort(rst=(end == "reset"))
        if chunked:
            w.write(b"0\r\n\r\n")
            await w.drain()

    async def cut_body(self, body, rst):
        """Non-stream counterpart of reset/truncate: headers announcing the
        full Content-Length, half the body, then the cut."""
        hdrs = [("Content-Type", "application/json"), ("Content-Length", len(body))]
        self.writer.write(self.head(200, hdrs) + body[:len(body) // 2])
        await self.abort(rst=rst)


REASONS = {s.value: s.phrase for s in http.HTTPStatus}


class Connection:
    __slots__ = ("reader", "writer", "conn_id", "seq", "peer")


class MockServer:
    def __init__(self, fixtures, state):
        self.fixtures = fixtures
        self.state = state
        self.conn_ids = itertools.count(1)

    # -- connection loop ---------------------------------------------------

    async def on_connection(self, reader, writer):
        sock = writer.get_extra_info("socket")
        if sock is not None:
            # Every write leaves at once: SSE chunks must not be held back
            # by Nagle's algorithm.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Connection()
        conn.reader, conn.writer = reader, writer
        conn.conn_id = next(self.conn_ids)
        conn.seq = 0
        conn.peer = list(writer.get_extra_info("peername") or ("?", 0))[:2]
        try:
            while True:
                try:
                    req = await read_request(reader, writer)
                except BadRequest as e:
                    log.warning("%s:%s bad request: %s", conn.peer[0], conn.peer[1], e)
                    body = error_envelope("mock: %s" % e)
                    writer.write(b"HTTP/1.1 400 Bad Request\r\nServer: llm-mock\r\nDate: %s\r\n"
                                 b"Content-Type: application/json\r\nConnection: close\r\n"
                                 b"Content-Length: %d\r\n\r\n%s"
                                 % (Exchange.http_date().encode(), len(body), body))
                    await writer.drain()
                    break
                if req is None:
                    break
                conn.seq += 1
                ex = Exchange(conn, req)
                await self.handle(ex)
                if not ex.keep_alive:
                    break
        except ConnectionCut:
            return
        except (ConnectionError, asyncio.IncompleteReadError) as e:
            log.info("%s:%s connection lost: %s", conn.peer[0], conn.peer[1], e)
        except asyncio.CancelledError:
            # Server shutdown.  Ending the task normally (instead of as
            # cancelled) keeps asyncio's stream machinery from logging a
            # spurious traceback per open connection on Python 3.11.
            return
        except Exception:
            log.exception("error on connection %s:%s", conn.peer[0], conn.peer[1])
        finally:
            if not writer.transport.is_closing():
                writer.close()

    async def handle(self, ex):
        req = ex.req
        try:
            if req.path.startswith("/__mock/"):
                await self.control(ex)
            else:
                ex.record = {
                    "method": req.method,
                    "path": req.path,
                    "query": req.query,
                    "headers": req.headers,
                    "body": req.body.decode("utf-8", "replace"),
                    "body_length": len(req.body),
                    "chunked": req.chunked,
                    "http_version": req.version,
                    "client": ex.conn.peer,
                    "conn_id": ex.conn.conn_id,
                    "conn_seq": ex.conn.seq,
                    "time": time.time(),
                    "status": None,
                }
                self.state.add_record(ex.record)
                await self.route(ex)
            log.info("%s:%s \"%s %s %s\" %s", ex.conn.peer[0], ex.conn.peer[1], req.method,
                     req.target, req.version, ex.record["status"] if ex.record else "-")
        except (ConnectionCut, ConnectionError, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("error handling %s %s", req.method, req.target)
            ex.keep_alive = False
            if not ex.headers_sent:
                await ex.reply(500, error_envelope("mock: internal error", "server_error"))

    # -- control endpoints -------------------------------------------------

    async def control(self, ex):
        state = self.state
        path = ex.req.path
        q = urllib.parse.parse_qs(ex.req.query)
        name = (q.get("id") or [""])[0]
        if path == "/__mock/requests":
            await ex.reply_json(200, list(state.records))
        elif path == "/__mock/last":
            if state.records:
                await ex.reply_json(200, state.records[-1])
            else:
                await ex.reply(404, error_envelope("mock: no request recorded",
                                                   code="no_requests"))
        elif path == "/__mock/reset":
            state.reset()
            await ex.reply_json(200, {"reset": True})
        elif path == "/__mock/release":
            if not name:
                await ex.reply(400, error_envelope("mock: release needs ?id=NAME", param="id"))
            else:
                await ex.reply_json(200, state.release_gate(name))
        elif path == "/__mock/gates":
            gates = {n: g.state() for n, g in state.gates.items()}
            if not name:
                await ex.reply_json(200, gates)
            elif name in gates:
                await ex.reply_json(200, gates[name])
            else:
                await ex.reply(404, error_envelope("mock: no gate %r" % name, code="no_gate"))
        else:
            await ex.reply(404, error_envelope("mock: unknown control endpoint %s" % path,
                                               code="not_found"))

    # -- upstream API ------------------------------------------------------

    async def route(self, ex):
        fx = self.fixtures
        method, path = ex.req.method, ex.req.path
        if path in ("/v1/models", "/v1/models/"):
            if method != "GET":
                return await self.method_not_allowed(ex)
            return await ex.reply(200, fx.models_list)
        if path.startswith("/v1/models/"):
            if method != "GET":
                return await self.method_not_allowed(ex)
            model_id = urllib.parse.unquote(path[len("/v1/models/"):])
            entry = fx.models.get(model_id)
            if entry is None:
                # CONSTRUCTED 404 body (no recorded router 404 available).
                return await ex.reply(404, error_envelope(
                    "The model '%s' does not exist" % model_id,
                    param="model", code="model_not_found"))
            return await ex.reply(200, entry)
        if path == "/v1/chat/completions":
            if method != "POST":
                return await self.method_not_allowed(ex)
            return await self.chat(ex)
        if path == "/v1beta" or path.startswith("/v1beta/"):
            return await self.gemini(ex)
        await ex.reply(404, error_envelope("mock: no route for %s %s" % (method, path),
                                           code="not_found"))

    async def method_not_allowed(self, ex):
        await ex.reply(405, error_envelope("mock: method %s not allowed" % ex.req.method,
                                           code="method_not_allowed"))

    async def chat(self, ex):
        fx = self.fixtures
        body = ex.req.body
        try:
            req = json.loads(body)
        except ValueError as e:
            # CONSTRUCTED 400 body (the router's exact bytes are unknown).
            return await ex.reply(400, error_envelope("Invalid JSON in request body: %s" % e,
                                                      code="invalid_json"))
        if not isinstance(req, dict):
            return await ex.reply(400, error_envelope("Request body must be a JSON object",
                                                      code="invalid_json"))
        model = req.get("model")
        stream = req.get("stream") is True

        # CONSTRUCTED: a key ending in "-status-NNN" gets that status, so
        # that key pools can be tested key by key ("-status-429" is the
        # router's 429 with Retry-After: 7).
        auth = ex.req.header("authorization", "")
        m = re.search(r"-status-(\d{3})$", auth)
        if m:
            return await self.status_scenario(ex, int(m.group(1)), None)
        # CONSTRUCTED: "-first-NNN": that status for the key's first request
        # only, as a key that comes back (for re-checks of disabled keys).
        m = re.search(r"-first-(\d{3})$", auth)
        if m and auth not in self.state.seen_keys:
            self.state.seen_keys.add(auth)
            return await self.status_scenario(ex, int(m.group(1)), None)

        if not isinstance(model, str) or not model.startswith("mock/"):
            return await self.normal(ex, stream)

        # "mock/<scenario>[:<provider or policy>]": the router suffix is ignored.
        scenario = model[len("mock/"):].split(":", 1)[0]

        # "mock/json-<scenario>": answers with JSON even when asked for a
        # stream, as some providers behind the router do.
        if scenario.startswith("json-"):
            scenario = scenario[len("json-"):]
            stream = False

        m = re.fullmatch(r"status-(\d{3})(-str|-html)?", scenario)
        if m:
            return await self.status_scenario(ex, int(m.group(1)), m.group(2))
        m = re.fullmatch(r"slow-(\d+)", scenario)
        if m:
            await asyncio.sleep(int(m.group(1)) / 1000.0)
            return await self.normal(ex, stream)
        m = re.fullmatch(r"stream-delay-(\d+)", scenario)
        if m:
            if not stream:
                return await self.normal(ex, False)
            return await ex.stream(fx.stream_text, delay=int(m.group(1)) / 1000.0)
        m = re.fullmatch(r"stream-gated-(.+)", scenario)
        if m:
            if not stream:
                return await self.normal(ex, False)
            gate = self.state.claim_gate(m.group(1))
            return await ex.stream(fx.stream_text, gate=gate)
        m = re.fullmatch(r"finish-(.+)", scenario)
        if m:
            value = m.group(1)
            value_json = b"null" if value == "null" else json.dumps(value).encode()
            if stream:
                return await ex.stream(fx.stream_with_finish(value_json))
            return await ex.reply(200, fx.chat_with_finish(value_json))

        if scenario == "tools":
            if stream:
                return await ex.stream(fx.stream_tools)
            return await ex.reply(200, fx.chat_tools)
        if scenario in ("length", "refusal", "n3"):
            if stream:
                # No recorded stream exists for these: the default one is sent.
                return await ex.stream(fx.stream_text)
            return await ex.reply(200, {"length": fx.chat_length, "refusal": fx.chat_refusal,
                                        "n3": fx.chat_n3}[scenario])
        if scenario in ("reset-mid-stream", "truncate-mid-stream"):
            rst = scenario == "reset-mid-stream"
            if stream:
                return await ex.stream(fx.stream_text[:2], end="reset" if rst else "truncate")
            return await ex.cut_body(fx.chat, rst)
        if scenario == "reasoning":
            if stream:
                return await ex.stream(fx.stream_reasoning())
            return await ex.reply(200, fx.chat_reasoning())
        if scenario in ("error-mid-stream", "error-mid-stream-str"):
            if stream:
                return await ex.stream(fx.stream_error_mid(scenario.endswith("-str")))
            return await self.normal(ex, False)
        if scenario == "bad-json":
            return await ex.reply(200, BAD_JSON_BODY)
        if scenario == "empty":
            return await ex.reply(200, b"")
        if scenario == "echo":
            text = body.decode("utf-8", "replace")
            if stream:
                return await ex.stream(fx.stream_echo(text))
            return await ex.reply(200, fx.chat_echo(text))

        # CONSTRUCTED: a typo in a test's scenario name must not pass silently.
        await ex.reply(400, error_envelope("mock: unknown scenario model '%s'" % model,
                                           param="model", code="unknown_scenario"))

    async def normal(self, ex, stream):
        fx = self.fixtures
        if stream:
            return await ex.stream(fx.stream_text)
        return await ex.reply(200, fx.chat)

    async def status_scenario(self, ex, code, variant):
        fx = self.fixtures
        if not 200 <= code <= 599:
            return await ex.reply(400, error_envelope(
                "mock: status %d not supported" % code, param="model", code="unknown_scenario"))
        extra = [("Retry-After", "7")] if code in (429, 503) else []
        if variant == "-html":
            reason = REASONS.get(code, "Error")
            body = HTML_ERROR_PAGE.format(code=code, reason=reason).encode()
            ctype = "text/html"
        elif variant == "-str":
            body, ctype = fx.err_string, "application/json"
        else:
            body = fx.err_401 if code == 401 else fx.err_object
            ctype = "application/json"
        if code in (204, 304):
            body = b""                  # these statuses never carry a body
        await ex.reply(code, body, ctype, extra)


    # -- Gemini Developer API (v1beta) ---------------------------------------

    async def gemini(self, ex):
        """Routes /v1beta/..., checks the API key, then runs the scenario
        chosen by the {model} path segment."""
        gx = self.fixtures.gemini
        req = ex.req
        method = req.method
        q = urllib.parse.parse_qs(req.query, keep_blank_values=True)
        rest = req.path[len("/v1beta/"):]

        model, rpc = None, None
        if rest in ("models", "models/"):
            op = "list" if method == "GET" else None
        elif rest.startswith("models/"):
            tail = urllib.parse.unquote(rest[len("models/"):])
            model, sep, rpc = tail.rpartition(":")
            if not sep:
                model, rpc = tail, ""
            if not model or "/" in model:
                op = None
            elif rpc == "" and method == "GET":
                op = "get"
            elif rpc in ("generateContent", "streamGenerateContent", "embedContent",
                         "batchEmbedContents", "countTokens") and method == "POST":
                op = rpc
            else:
                op = None
        else:
            op = None
        if op is None:
            # CONSTRUCTED 404 (Google answers unknown paths and methods with 404).
            return await ex.reply(404, gemini_status(
                404, "NOT_FOUND", "mock: no route for %s %s" % (method, req.path)))

        stream = op == "streamGenerateContent"
        # Errors on a stream request keep the stream's content type, as the
        # recorded pre-stream 404 does (gemini_stream_error_404_body.txt).
        ctype = ("text/event-stream" if stream and q.get("alt") == ["sse"]
                 else "application/json")

        # Auth, as Google: x-goog-api-key header, else ?key=.
        key = req.header("x-goog-api-key") or (q.get("key") or [""])[0]
        if not key:
            return await ex.reply(403, gx.err_no_key, ctype)
        if key.startswith("bad"):
            return await ex.reply(400, gx.err_400_key, ctype)
        # CONSTRUCTED: as for the router, a key ending in "-status-NNN"
        # gets Google's recorded answer for that status.
        m = re.search(r"-status-(\d{3})$", key)
        if m and op != "list":
            code = int(m.group(1))
            bodies = {429: gx.err_429, 403: gx.err_403, 400: gx.err_400_key,
                      500: gx.err_500, 503: gx.err_503}
            if code in bodies:
                return await ex.reply(code, bodies[code], ctype)

        if stream and q.get("alt") != ["sse"]:
            # CONSTRUCTED: without alt=sse the real API streams a JSON array,
            # which the gateway must never ask for.
            return await ex.reply(400, gemini_status(
                400, "INVALID_ARGUMENT",
                "mock: streamGenerateContent needs ?alt=sse (got alt=%r)"
                % ",".join(q.get("alt") or [])))

        if op == "list":
            return await self.gemini_list(ex, q)

        # Scenario from the model name.
        scenario = None
        if model.startswith("mock-"):
            scenario = model[len("mock-"):]
            errors = {
                "404": (404, gx.err_404_stream if stream else gx.err_404),
                "429": (429, gx.err_429),
                "403": (403, gx.err_403),
                "400-key": (400, gx.err_400_key),
                "500": (500, gx.err_500),
                "503": (503, gx.err_503),
            }
            if scenario in errors:
                code, body = errors[scenario]
                return await ex.reply(code, body, ctype)
            m = re.fullmatch(r"slow-(\d+)", scenario)
            if m:
                await asyncio.sleep(int(m.group(1)) / 1000.0)
                scenario = None
            elif not (scenario in GEMINI_SCENARIOS
                      or re.fullmatch(r"stream-delay-\d+", scenario)
                      or re.fullmatch(r"stream-gated-.+", scenario)):
                # CONSTRUCTED: a typo in a test's scenario name must fail loudly.
                return await ex.reply(400, gemini_status(
                    400, "INVALID_ARGUMENT", "mock: unknown scenario model '%s'" % model), ctype)

        if op == "get":
            entry = gx.models_by_name.get("models/" + model)
            if entry is None:
                return await ex.reply(404, gx.not_found(model))
            # Entry of the recorded list, re-serialised like the fixture.
            return await ex.reply(200, gemini_json(entry))

        body = self.gemini_body(ex)
        if isinstance(body, bytes):
            return await ex.reply(400, body, ctype)
        if op == "countTokens":
            # CONSTRUCTED: words stand in for tokens.
            return await ex.reply(200, gemini_json({"totalTokens": count_words(body)}))
        if op in ("embedContent", "batchEmbedContents"):
            return await self.gemini_embed(ex, op, model, body)
        return await self.gemini_generate(ex, scenario, stream)

    def gemini_body(self, ex):
        """Request body as a JSON object, or a 400 body (CONSTRUCTED)."""
        try:
            body = json.loads(ex.req.body or b"{}")
        except ValueError as e:
            return gemini_status(400, "INVALID_ARGUMENT",
                                 "Invalid JSON payload received. %s" % e)
        if not isinstance(body, dict):
            return gemini_status(400, "INVALID_ARGUMENT",
                                 "Invalid JSON payload received. Expected an object.")
        return body

    async def gemini_list(self, ex, q):
        """models.list over the recorded list, paged.  Paging and the page
        token format ("offset-<n>", opaque to clients) are CONSTRUCTED."""
        gx = self.fixtures.gemini
        try:
            size = int((q.get("pageSize") or ["0"])[0] or 0)
            if size < 0:
                raise ValueError
        except ValueError:
            return await ex.reply(400, gemini_status(
                400, "INVALID_ARGUMENT", "mock: pageSize must be a non-negative integer"))
        size = min(size or GEMINI_PAGE_SIZE, GEMINI_MAX_PAGE_SIZE)
        token = (q.get("pageToken") or [""])[0]
        start = 0
        if token:
            m = re.fullmatch(r"offset-(\d+)", token)
            if not m or int(m.group(1)) > len(gx.models):
                return await ex.reply(400, gemini_status(
                    400, "INVALID_ARGUMENT", "mock: invalid pageToken %r" % token))
            start = int(m.group(1))
        out = {"models": gx.models[start:start + size]}
        if start + size < len(gx.models):
            out["nextPageToken"] = "offset-%d" % (start + size)
        # With one page holding everything the body is the fixture's bytes.
        await ex.reply(200, gemini_json(out))

    async def gemini_embed(self, ex, op, model, body):
        """embedContent / batchEmbedContents from the recorded embeddings.
        CONSTRUCTED: the recorded values cycle over the requests, and an
        outputDimensionality below their length truncates them."""
        gx = self.fixtures.gemini

        def bad(msg):
            return ex.reply(400, gemini_status(400, "INVALID_ARGUMENT", msg))

        def values(i, r, where):
            dim = r.get("outputDimensionality", r.get("output_dimensionality"))
            if dim is not None and (not isinstance(dim, int) or isinstance(dim, bool) or dim < 1):
                return "%soutputDimensionality must be a positive integer" % where
            if not isinstance(r.get("content"), dict):
                return "%scontent is required" % where
            v = gx.embeddings[i % len(gx.embeddings)]
            return v[:dim] if dim is not None and dim < len(v) else list(v)

        if op == "embedContent":
            v = values(0, body, "")
            if isinstance(v, str):
                return await bad("mock: " + v)
            return await ex.reply(200, gemini_json({"embedding": {"values": v}}))

        reqs = body.get("requests")
        if not isinstance(reqs, list) or not reqs:
            return await bad("mock: requests must be a non-empty list")
        out = []
        for i, r in enumerate(reqs):
            where = "requests[%d]." % i
            if not isinstance(r, dict):
                return await bad("mock: %s must be an object" % where[:-1])
            if r.get("model") != "models/" + model:
                return await bad("mock: %smodel is %s, must be the URL's model %s"
                                 % (where, json.dumps(r.get("model")),
                                    json.dumps("models/" + model)))
            v = values(i, r, where)
            if isinstance(v, str):
                return await bad("mock: " + v)
            out.append({"values": v})
        # With 3 requests and no truncation the body equals the fixture's bytes.
        await ex.reply(200, gemini_json({"embeddings": out}))

    async def gemini_generate(self, ex, scenario, stream):
        gx = self.fixtures.gemini
        sc = scenario or ""
        m = re.fullmatch(r"stream-delay-(\d+)", sc)
        if m:
            if stream:
                return await ex.stream(gx.stream_basic, delay=int(m.group(1)) / 1000.0)
            sc = ""
        m = re.fullmatch(r"stream-gated-(.+)", sc)
        if m:
            if stream:
                return await ex.stream(gx.stream_basic, gate=self.state.claim_gate(m.group(1)))
            sc = ""
        if sc in ("reset-mid-stream", "truncate-mid-stream"):
            rst = sc == "reset-mid-stream"
            if stream:
                return await ex.stream(gx.stream_basic[:2], end="reset" if rst else "truncate")
            return await ex.cut_body(gx.generate, rst)
        if sc == "echo":
            obj = gx.echo_obj(ex.req.body.decode("utf-8", "replace"))
            if stream:
                return await ex.stream([gemini_sse_event(obj)])
            return await ex.reply(200, gemini_json(obj))

        table = {
            # scenario: (non-stream body, stream events)
            "": (gx.generate, gx.stream_basic),
            "thinking-fc": (gx.thinking_fc, gx.streams["stream_thinking_fc"]),
            "thinking-text": (gx.thinking_text, gx.streams["stream_thinking_text"]),
            "fc": (gx.fc, gx.streams["stream_fc"]),
            "code": (gx.code, gx.streams["stream_code"]),
            "search": (gx.search, gx.stream_search),
            "safety": (gx.safety, gx.stream_safety),
            "blocked": (gx.blocked, gx.streams["stream_blocked"]),
            "max-tokens": (gx.max_tokens, gx.streams["stream_max_tokens"]),
            "error-mid-stream": (gx.generate, gx.error_mid_stream()),
            "crlf": (gx.generate, gx.stream_crlf),
            "lf": (gx.generate, gx.stream_lf),
        }
        body, events = table[sc]
        if stream:
            return await ex.stream(events)
        await ex.reply(200, body)


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

async def serve(args, fixtures):
    loop = asyncio.get_running_loop()

    def on_loop_error(loop, context):
        # Anything escaping a task is logged; the server keeps running.
        log.error("event loop error: %s", context.get("message"),
                  exc_info=context.get("exception"))
    loop.set_exception_handler(on_loop_error)

    mock = MockServer(fixtures, State(args.max_records, args.gate_timeout))
    server = await asyncio.start_server(mock.on_connection, args.host, args.port,
                                        backlog=1024, limit=MAX_HEAD)
    port = server.sockets[0].getsockname()[1]

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    if args.pidfile:
        with open(args.pidfile, "w") as f:
            f.write("%d\n" % os.getpid())
    log.info("listening on %s:%d", args.host, port)
    print("READY %d" % port, flush=True)

    await stop.wait()
    log.info("stopping")
    server.close()
    # Open connections (idle keep-alive ones, gated streams) are cancelled
    # by asyncio.run() on the way out.


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description="Mock LLM upstreams (HF router, Gemini v1beta).")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    ap.add_argument("--fixtures", default=os.path.join(here, "..", "fixtures"))
    ap.add_argument("--pidfile")
    ap.add_argument("--log", help="log file (access + errors); default: errors to stderr")
    ap.add_argument("--max-records", type=int, default=10000,
                    help="keep at most this many request records (oldest dropped)")
    ap.add_argument("--gemini-max-page", type=int, default=None,
                    help="largest models.list page (Google: 1000); smaller "
                         "values make clients walk several pages")
    ap.add_argument("--gate-timeout", type=float, default=GATE_TIMEOUT,
                    help="seconds a stream-gated scenario waits for its release (default 10)")
    args = ap.parse_args(argv)
    if args.gemini_max_page:
        global GEMINI_MAX_PAGE_SIZE
        GEMINI_MAX_PAGE_SIZE = args.gemini_max_page

    if args.log:
        handler = logging.FileHandler(args.log)
        level = logging.INFO
    else:
        handler = logging.StreamHandler(sys.stderr)
        level = logging.WARNING
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(level)

    try:
        fixtures = Fixtures(args.fixtures)
    except (OSError, ValueError, AssertionError) as e:
        print("llm_mock: cannot load fixtures from %s: %s" % (args.fixtures, e), file=sys.stderr)
        return 2

    try:
        asyncio.run(serve(args, fixtures))
    finally:
        if args.pidfile:
            try:
                os.unlink(args.pidfile)
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
