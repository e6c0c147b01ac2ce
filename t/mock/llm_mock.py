#!/usr/bin/env python3
"""Scriptable mock of an OpenAI-shaped LLM upstream (the Hugging Face router).

The ngx_llm_gateway tests and benchmarks point nginx at this server instead of
https://router.huggingface.co/v1.  It serves the router's OpenAI-compatible
API from the recorded samples in t/fixtures/ (sent byte for byte), records
every request it receives, and lets a test pick a behaviour (error status,
slow start, stalled or broken stream, ...) through the "model" value of the
chat request, because that is the one thing the gateway always forwards.

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
    ap = argparse.ArgumentParser(description="Mock OpenAI-shaped LLM upstream (HF router).")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    ap.add_argument("--fixtures", default=os.path.join(here, "..", "fixtures"))
    ap.add_argument("--pidfile")
    ap.add_argument("--log", help="log file (access + errors); default: errors to stderr")
    ap.add_argument("--max-records", type=int, default=10000,
                    help="keep at most this many request records (oldest dropped)")
    ap.add_argument("--gate-timeout", type=float, default=GATE_TIMEOUT,
                    help="seconds a stream-gated scenario waits for its release (default 10)")
    args = ap.parse_args(argv)

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
