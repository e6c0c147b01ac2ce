#!/usr/bin/env python3
"""Self-test of t/mock/llm_mock.py (Python 3 standard library only).

Covers both upstream APIs the mock serves: the HF router (/v1/) and the
Gemini Developer API (/v1beta/).

Starts the mock on a free 127.0.0.1 port, checks every endpoint and scenario
against the fixture bytes, and prints one line per check and a closing
"N passed, N failed" line.  Exit status 0 only if every check passed.

    python3 t/mock/selftest.py
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures")
MOCK = os.path.join(HERE, "llm_mock.py")

results = []


def check(name, cond, detail=""):
    results.append(bool(cond))
    print("%s - %s%s" % ("ok" if cond else "FAIL", name, (": " + detail) if detail and not cond else ""))


def fixture(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


class Mock:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, MOCK, "--port", "0", "--gate-timeout", "1"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("READY "):
            raise RuntimeError("mock did not start: %r %r" % (line, self.proc.stderr.read()))
        self.port = int(line.split()[1])

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def get_json(self, path):
        with urllib.request.urlopen(self.url(path)) as r:
            return json.loads(r.read())

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None


def request(port, method, path, body=None, conn=None):
    """Returns (status, headers dict lower-cased, body bytes)."""
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    c.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
    r = c.getresponse()
    out = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    if conn is None:
        c.close()
    return r.status, hdrs, out


def chat(port, model, stream=False, **extra):
    body = {"model": model, "messages": [{"role": "user", "content": "Hello!"}]}
    if stream:
        body["stream"] = True
    body.update(extra)
    return request(port, "POST", "/v1/chat/completions", body)


def raw_stream(port, model, gate_release=None):
    """Raw socket chat stream.  Returns (status line, chunks, how it ended)."""
    body = json.dumps({"model": model, "stream": True}).encode()
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: mock\r\nContent-Length: %d\r\n\r\n"
              % len(body) + body)
    f = s.makefile("rb")
    status = f.readline()
    while f.readline() not in (b"\r\n", b""):
        pass
    chunks, end = [], "?"
    try:
        while True:
            line = f.readline()
            if not line:
                end = "eof"
                break
            n = int(line.strip(), 16)
            if n == 0:
                f.readline()
                end = "clean"
                break
            chunks.append(f.read(n))
            f.readline()
            if gate_release and len(chunks) == 1:
                gate_release()
    except ConnectionResetError:
        end = "reset"
    s.close()
    return status, chunks, end


# -- Gemini ------------------------------------------------------------------

GEMINI_KEY = "test-key"


def g_request(port, method, path, body=None, key=GEMINI_KEY, headers=None):
    """Gemini request; the key goes in x-goog-api-key unless key is None.
    Returns (status, headers dict lower-cased, body bytes)."""
    hdrs = dict(headers or {})
    if key is not None:
        hdrs["x-goog-api-key"] = key
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    if data is not None:
        hdrs["Content-Type"] = "application/json"
    c.request(method, path, body=data, headers=hdrs)
    r = c.getresponse()
    out = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, out


def g_generate(port, model, body=None, **kw):
    return g_request(port, "POST", "/v1beta/models/%s:generateContent" % model,
                     body if body is not None else GEMINI_BODY, **kw)


def g_raw_stream(port, model, query="alt=sse", key=GEMINI_KEY, gate_release=None, body=None):
    """Raw socket :streamGenerateContent.  Returns (status line, headers dict
    lower-cased, chunks, how it ended, body bytes for a non-chunked reply)."""
    data = json.dumps(body if body is not None else GEMINI_BODY).encode()
    head = "POST /v1beta/models/%s:streamGenerateContent%s HTTP/1.1\r\nHost: mock\r\n" % (
        model, "?" + query if query else "")
    if key is not None:
        head += "x-goog-api-key: %s\r\n" % key
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    s.sendall(head.encode() + b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
              % len(data) + data)
    f = s.makefile("rb")
    status = f.readline()
    hdrs = {}
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        k, _, v = line.decode().partition(":")
        hdrs[k.strip().lower()] = v.strip()
    chunks, end, plain = [], "?", b""
    try:
        if "content-length" in hdrs:
            plain = f.read(int(hdrs["content-length"]))
            end = "length"
        else:
            while True:
                line = f.readline()
                if not line:
                    end = "eof"
                    break
                n = int(line.strip(), 16)
                if n == 0:
                    f.readline()
                    end = "clean"
                    break
                chunks.append(f.read(n))
                f.readline()
                if gate_release and len(chunks) == 1:
                    gate_release()
    except ConnectionResetError:
        end = "reset"
    s.close()
    return status, hdrs, chunks, end, plain


GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": "Hello there!"}]}]}


def sse_events(data):
    """Split Gemini SSE bytes into events (any of the three separators)."""
    out, start = [], 0
    i = 0
    while i < len(data):
        for sep in (b"\r\n\r\n", b"\n\n", b"\r\r"):
            if data.startswith(sep, i):
                out.append(data[start:i + len(sep)])
                start = i = i + len(sep)
                break
        else:
            i += 1
    if start < len(data):
        out.append(data[start:])
    return out


def payload(event):
    text = event.decode().strip()
    assert text.startswith("data: "), text[:30]
    return json.loads(text[6:])


def one_event_per_chunk(chunks):
    return all(len(sse_events(c)) == 1 for c in chunks)


def gemini_checks(m, p):
    fx = fixture
    # -- auth ----------------------------------------------------------------
    st, h, b = g_generate(p, "gemini-2.5-flash", key=None)
    e = json.loads(b)["error"]
    check("gemini: no key -> 403 PERMISSION_DENIED", st == 403 and e["code"] == 403
          and e["status"] == "PERMISSION_DENIED" and e["message"].startswith(
              "Method doesn't allow unregistered callers"))
    st, h, b = g_request(p, "POST", "/v1beta/models/gemini-2.5-flash:generateContent?key=qk",
                         GEMINI_BODY, key=None)
    check("gemini: ?key= accepted", st == 200 and b == fx("gemini_generate_response.json"))
    st, h, b = g_generate(p, "gemini-2.5-flash", key="bad-key")
    check("gemini: bad header key -> 400 API_KEY_INVALID (recorded)",
          st == 400 and b == fx("gemini_error_400_api_key_invalid.json"))
    st, h, b = g_request(p, "GET", "/v1beta/models?key=badkey", key=None)
    check("gemini: bad ?key= -> 400 API_KEY_INVALID", st == 400
          and b == fx("gemini_error_400_api_key_invalid.json"))
    status, h, chunks, end, plain = g_raw_stream(p, "gemini-2.5-flash", key=None)
    check("gemini: stream without key -> 403, text/event-stream", b" 403 " in status
          and h["content-type"] == "text/event-stream"
          and json.loads(plain)["error"]["status"] == "PERMISSION_DENIED")

    # -- default model --------------------------------------------------------
    st, h, b = g_generate(p, "gemini-2.5-flash")
    check("gemini: generateContent default = recorded", st == 200 and h["content-type"]
          == "application/json" and b == fx("gemini_generate_response.json"))
    status, h, chunks, end, _ = g_raw_stream(p, "gemini-2.5-flash")
    check("gemini: stream default = recorded, one event per chunk, no [DONE]",
          b" 200 " in status and h["content-type"] == "text/event-stream"
          and h.get("transfer-encoding") == "chunked" and end == "clean"
          and b"".join(chunks) == fx("gemini_stream_basic.sse") and len(chunks) == 3
          and one_event_per_chunk(chunks) and b"[DONE]" not in b"".join(chunks))
    for q in ("", "alt=json"):
        status, h, chunks, end, plain = g_raw_stream(p, "gemini-2.5-flash", query=q)
        check("gemini: stream with %r -> 400" % (q or "no alt"), b" 400 " in status
              and json.loads(plain)["error"]["status"] == "INVALID_ARGUMENT")
    status, h, chunks, end, _ = g_raw_stream(p, "gemini-2.5-flash", query="key=k2&alt=sse", key=None)
    check("gemini: stream ?key=&alt=sse", b" 200 " in status
          and b"".join(chunks) == fx("gemini_stream_basic.sse"))

    # -- scenarios with recorded bodies --------------------------------------
    for model, body_fx, stream_fx in [
            ("mock-thinking-fc", "gemini_thinking_function_call_response.json",
             "gemini_stream_thinking_function_call.sse"),
            ("mock-fc", "gemini_function_call_response.json", "gemini_stream_function_call.sse"),
            ("mock-code", "gemini_code_execution_response.json",
             "gemini_stream_code_execution_intermediate_finish.sse"),
            ("mock-thinking-text", None, "gemini_stream_thinking_text.sse"),
            ("mock-max-tokens", None, "gemini_stream_max_tokens.sse"),
            ("mock-blocked", None, "gemini_stream_prompt_blocked.sse"),
            ("mock-search", "gemini_google_search_grounding_response.json", None),
            ("mock-safety", "gemini_finish_reason_safety_response.json", None)]:
        if body_fx:
            st, h, b = g_generate(p, model)
            check("gemini: %s generateContent = %s" % (model, body_fx),
                  st == 200 and b == fx(body_fx) and int(h["content-length"]) == len(b))
        if stream_fx:
            status, h, chunks, end, _ = g_raw_stream(p, model)
            check("gemini: %s stream = %s, one event per chunk" % (model, stream_fx),
                  b" 200 " in status and end == "clean" and b"".join(chunks) == fx(stream_fx)
                  and one_event_per_chunk(chunks) and len(chunks) == len(sse_events(fx(stream_fx))))
        else:
            status, h, chunks, end, _ = g_raw_stream(p, model)
            check("gemini: %s stream = one event with the recorded JSON" % model,
                  b" 200 " in status and end == "clean" and len(chunks) == 1
                  and chunks[0].endswith(b"}\r\n\r\n") and payload(chunks[0]) == json.loads(fx(body_fx)))

    # merged non-stream bodies
    for model, stream_fx, finish in [("mock-thinking-text", "gemini_stream_thinking_text.sse", "STOP"),
                                     ("mock-max-tokens", "gemini_stream_max_tokens.sse", "MAX_TOKENS")]:
        st, h, b = g_generate(p, model)
        got = json.loads(b)
        evs = [payload(e) for e in sse_events(fx(stream_fx))]
        parts = [pt for e in evs for pt in e["candidates"][0]["content"]["parts"]]
        text = "".join(pt["text"] for pt in parts if set(pt) == {"text"})
        want = ([pt for pt in parts if pt.get("thought")] + [{"text": text}]
                + [pt for pt in parts if "thoughtSignature" in pt])
        c = got["candidates"][0]
        check("gemini: %s generateContent = merged stream" % model, st == 200
              and c["content"]["parts"] == want and c["finishReason"] == finish
              and got["usageMetadata"] == evs[-1]["usageMetadata"]
              and got["modelVersion"] == evs[-1]["modelVersion"])
    st, h, b = g_generate(p, "mock-blocked")
    check("gemini: mock-blocked generateContent = the event's JSON", st == 200
          and json.loads(b) == payload(fx("gemini_stream_prompt_blocked.sse"))
          and "candidates" not in json.loads(b))

    # -- error scenarios --------------------------------------------------------
    for model, code, body_fx, status_name in [
            ("mock-404", 404, "gemini_error_404_model_not_found.json", "NOT_FOUND"),
            ("mock-429", 429, "gemini_error_429.json", "RESOURCE_EXHAUSTED"),
            ("mock-403", 403, "gemini_error_403_service_disabled.json", "PERMISSION_DENIED"),
            ("mock-400-key", 400, "gemini_error_400_api_key_invalid.json", "INVALID_ARGUMENT"),
            ("mock-500", 500, None, "INTERNAL"),
            ("mock-503", 503, None, "UNAVAILABLE")]:
        st, h, b = g_generate(p, model)
        e = json.loads(b)["error"]
        check("gemini: %s generateContent -> %d" % (model, code), st == code
              and h["content-type"] == "application/json" and e["code"] == code
              and e["status"] == status_name and (body_fx is None or b == fx(body_fx)))
        status, h, chunks, end, plain = g_raw_stream(p, model)
        want = fx("gemini_stream_error_404_body.txt") if code == 404 else (
            fx(body_fx) if body_fx else None)
        check("gemini: %s stream -> %d text/event-stream JSON body" % (model, code),
              (b" %d " % code) in status and h["content-type"] == "text/event-stream"
              and json.loads(plain)["error"]["code"] == code and (want is None or plain == want))
    st, h, b = g_generate(p, "mock-503")
    check("gemini: mock-503 message", json.loads(b)["error"]["message"]
          == "The model is overloaded. Please try again later.")
    for model in ("mock-typo", "mock-429-x", "mock-fc-x"):
        st, h, b = g_generate(p, model)
        check("gemini: unknown scenario %s -> 400" % model, st == 400
              and "unknown scenario" in json.loads(b)["error"]["message"])

    # -- stream shapes ----------------------------------------------------------
    basic = sse_events(fx("gemini_stream_basic.sse"))
    status, h, chunks, end, _ = g_raw_stream(p, "mock-error-mid-stream")
    err = json.loads(chunks[-1]) if len(chunks) == 3 else {}
    check("gemini: mock-error-mid-stream: 2 recorded events, bare JSON error, clean end",
          end == "clean" and chunks[:2] == basic[:2] and not chunks[2].startswith(b"data:")
          and b"\n  " in chunks[2] and err["error"]["code"] == 500
          and err["error"]["status"] == "INTERNAL")
    status, h, chunks, end, _ = g_raw_stream(p, "mock-crlf")
    check("gemini: mock-crlf: \\r\\n\\r\\n separators", end == "clean"
          and b"".join(chunks) == fx("gemini_stream_basic.sse").replace(b"\r\n\r\n", b"\n\n")
          .replace(b"\n\n", b"\r\n\r\n") and all(c.endswith(b"}\r\n\r\n") for c in chunks))
    status, h, chunks, end, _ = g_raw_stream(p, "mock-lf")
    check("gemini: mock-lf: \\n\\n separators, same events", end == "clean"
          and len(chunks) == 3 and all(c.endswith(b"}\n\n") and b"\r" not in c for c in chunks)
          and [payload(c) for c in chunks] == [payload(e) for e in basic])
    t0 = time.time()
    status, h, chunks, end, _ = g_raw_stream(p, "mock-stream-delay-100")
    check("gemini: mock-stream-delay-100", end == "clean" and chunks == basic
          and time.time() - t0 >= 0.2)
    st, h, b = g_generate(p, "mock-stream-delay-100")
    check("gemini: mock-stream-delay non-stream = default", st == 200
          and b == fx("gemini_generate_response.json"))

    def release_gg():
        urllib.request.urlopen(m.url("/__mock/release?id=gg1")).read()
    status, h, chunks, end, _ = g_raw_stream(p, "mock-stream-gated-gg1", gate_release=release_gg)
    g = m.get_json("/__mock/gates?id=gg1")
    check("gemini: mock-stream-gated: released after first event", end == "clean"
          and chunks == basic and g["released_before_second"] is True and g["state"] == "done")
    status, h, chunks, end, _ = g_raw_stream(p, "mock-reset-mid-stream")
    check("gemini: mock-reset-mid-stream: 2 events then RST",
          chunks == basic[:2] and end == "reset", end)
    status, h, chunks, end, _ = g_raw_stream(p, "mock-truncate-mid-stream")
    check("gemini: mock-truncate-mid-stream: 2 events then EOF",
          chunks == basic[:2] and end == "eof", end)
    try:
        g_generate(p, "mock-truncate-mid-stream")
        cut = False
    except http.client.IncompleteRead:
        cut = True
    check("gemini: mock-truncate-mid-stream non-stream: short body", cut)
    t0 = time.time()
    st, h, b = g_generate(p, "mock-slow-200")
    check("gemini: mock-slow-200", st == 200 and b == fx("gemini_generate_response.json")
          and time.time() - t0 >= 0.2)

    # -- echo -----------------------------------------------------------------
    sent = {"contents": [{"role": "user", "parts": [{"text": "h\u00e9 there"}]}], "x": [1]}
    st, h, b = g_generate(p, "mock-echo", sent)
    got = json.loads(b)
    shape = json.loads(fx("gemini_generate_response.json"))
    check("gemini: mock-echo generateContent", st == 200
          and json.loads(got["candidates"][0]["content"]["parts"][0]["text"]) == sent
          and len(got["candidates"][0]["content"]["parts"]) == 1
          and got["usageMetadata"] == shape["usageMetadata"])
    status, h, chunks, end, _ = g_raw_stream(p, "mock-echo", body=sent)
    check("gemini: mock-echo stream: one event", end == "clean" and len(chunks) == 1
          and json.loads(payload(chunks[0])["candidates"][0]["content"]["parts"][0]["text"]) == sent)

    # -- models ---------------------------------------------------------------
    listing = json.loads(fx("gemini_models_list.json"))["models"]
    st, h, b = g_request(p, "GET", "/v1beta/models")
    d = json.loads(b)
    check("gemini: models default page of 50 + nextPageToken", st == 200
          and d["models"] == listing[:50] and isinstance(d.get("nextPageToken"), str))
    seen, token, pages = [], None, 0
    while pages < 10:
        st, h, b = g_request(p, "GET", "/v1beta/models?pageSize=20"
                             + ("&pageToken=" + token if token else ""))
        d = json.loads(b)
        seen += d["models"]
        pages += 1
        token = d.get("nextPageToken")
        if not token:
            break
    check("gemini: models paging pageSize=20 -> 3 pages, whole list in order",
          pages == 3 and seen == listing)
    st, h, b = g_request(p, "GET", "/v1beta/models?pageSize=1000")
    check("gemini: models pageSize=1000 = recorded list bytes, no token",
          st == 200 and b == fx("gemini_models_list.json"))
    st, h, b = g_request(p, "GET", "/v1beta/models?pageToken=nonsense")
    check("gemini: models bad pageToken -> 400", st == 400)
    st, h, b = g_request(p, "GET", "/v1beta/models/gemini-2.5-flash")
    check("gemini: get model = recorded entry", st == 200 and json.loads(b) == listing[0])
    st, h, b = g_request(p, "GET", "/v1beta/models/no-such-model")
    e = json.loads(b)["error"]
    check("gemini: get unknown model -> 404 NOT_FOUND", st == 404 and e["status"] == "NOT_FOUND"
          and e["message"].startswith("models/no-such-model is not found"))
    st, h, b = g_request(p, "GET", "/v1beta/models/gemini-nonexistent-rig-test")
    check("gemini: get the recorded unknown model -> recorded 404 body",
          st == 404 and b == fx("gemini_error_404_model_not_found.json"))

    # -- embeddings -------------------------------------------------------------
    rec = json.loads(fx("gemini_batch_embed_response_truncated.json"))["embeddings"]
    st, h, b = g_request(p, "POST", "/v1beta/models/gemini-embedding-001:batchEmbedContents",
                         fx("gemini_batch_embed_request.json"))
    check("gemini: batchEmbedContents (recorded request) = recorded response bytes",
          st == 200 and b == fx("gemini_batch_embed_response_truncated.json"))
    reqs = [{"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "t%d" % i}]}}
            for i in range(5)]
    reqs[1]["outputDimensionality"] = 4
    reqs[2]["output_dimensionality"] = 3
    reqs[3]["outputDimensionality"] = 3072
    st, h, b = g_request(p, "POST", "/v1beta/models/gemini-embedding-001:batchEmbedContents",
                         {"requests": reqs})
    got = [e["values"] for e in json.loads(b)["embeddings"]]
    check("gemini: batchEmbedContents cycles values, truncates to outputDimensionality",
          st == 200 and got == [rec[0]["values"], rec[1]["values"][:4], rec[2]["values"][:3],
                                rec[0]["values"], rec[1]["values"]])
    reqs[2]["model"] = "models/other"
    st, h, b = g_request(p, "POST", "/v1beta/models/gemini-embedding-001:batchEmbedContents",
                         {"requests": reqs})
    check("gemini: batchEmbedContents model mismatch -> 400",
          st == 400 and json.loads(b)["error"]["status"] == "INVALID_ARGUMENT")
    st, h, b = g_request(p, "POST", "/v1beta/models/gemini-embedding-001:embedContent",
                         {"content": {"parts": [{"text": "x"}]}})
    check("gemini: embedContent = first recorded embedding",
          st == 200 and json.loads(b) == {"embedding": {"values": rec[0]["values"]}})
    st, h, b = g_request(p, "POST", "/v1beta/models/gemini-embedding-001:embedContent",
                         {"content": {"parts": [{"text": "x"}]}, "outputDimensionality": 2})
    check("gemini: embedContent outputDimensionality 2",
          json.loads(b)["embedding"]["values"] == rec[0]["values"][:2])

    # -- countTokens --------------------------------------------------------------
    st, h, b = g_request(p, "POST", "/v1beta/models/gemini-2.5-flash:countTokens",
                         {"contents": [{"role": "user", "parts": [{"text": " one two\nthree "}]},
                                       {"role": "model", "parts": [{"text": "four"},
                                                                   {"functionCall": {"name": "f"}}]}]})
    check("gemini: countTokens = words in text parts", st == 200
          and json.loads(b) == {"totalTokens": 4})
    st, h, b = g_request(p, "POST", "/v1beta/models/gemini-2.5-flash:countTokens",
                         {"generateContentRequest": {"model": "models/gemini-2.5-flash",
                                                     "contents": [{"parts": [{"text": "a b c"}]}]}})
    check("gemini: countTokens generateContentRequest form", json.loads(b) == {"totalTokens": 3})

    # -- routing and bad bodies ---------------------------------------------------
    st, h, b = g_request(p, "GET", "/v1beta/models/gemini-2.5-flash:generateContent")
    check("gemini: GET on :generateContent -> 404", st == 404
          and json.loads(b)["error"]["status"] == "NOT_FOUND")
    st, h, b = g_request(p, "POST", "/v1beta/models/gemini-2.5-flash:bogus", {})
    check("gemini: unknown method -> 404", st == 404)
    st, h, b = g_generate(p, "gemini-2.5-flash", b"{not json")
    check("gemini: invalid JSON -> 400 INVALID_ARGUMENT", st == 400
          and json.loads(b)["error"]["status"] == "INVALID_ARGUMENT")

    # -- recording ------------------------------------------------------------------
    urllib.request.urlopen(urllib.request.Request(m.url("/__mock/reset"), method="POST")).read()
    g_raw_stream(p, "gemini-2.5-flash", query="alt=sse&key=rk", key=None)
    g_generate(p, "mock-fc")
    recs = m.get_json("/__mock/requests")
    check("gemini: requests recorded (path, query, key header, body, status)",
          len(recs) == 2 and recs[0]["path"] == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
          and recs[0]["query"] == "alt=sse&key=rk" and recs[0]["status"] == 200
          and ["x-goog-api-key", GEMINI_KEY] in recs[1]["headers"]
          and json.loads(recs[1]["body"]) == GEMINI_BODY)


def main():
    m = Mock()
    p = m.port
    try:
        # /v1/models
        st, h, b = request(p, "GET", "/v1/models")
        d = json.loads(b)
        ids = [e["id"] for e in d["data"]]
        check("models list", st == 200 and d["object"] == "list"
              and "deepseek-ai/DeepSeek-V4-Pro" in ids and "Qwen/Qwen3-32B" in ids, ids)
        st, h, b = request(p, "GET", "/v1/models/deepseek-ai/DeepSeek-V4-Pro")
        check("model by id is the recorded item", st == 200 and b == fixture("hf_router_models_item.json"))
        st, h, b = request(p, "GET", "/v1/models/no/such")
        check("unknown model 404 object envelope", st == 404 and "message" in json.loads(b)["error"])

        # non-stream chat
        for model, fx in [("some/model", "openai_chat_response.json"),
                          ("mock/tools", "openai_chat_response_tool_calls.json"),
                          ("mock/length", "openai_chat_response_finish_length.json"),
                          ("mock/refusal", "openai_chat_response_refusal.json"),
                          ("mock/n3", "openai_chat_response_multiple_choices_n3.json"),
                          ("mock/n3:groq", "openai_chat_response_multiple_choices_n3.json"),
                          ("mock/slow-100", "openai_chat_response.json")]:
            st, h, b = chat(p, model)
            check("chat %s = %s" % (model, fx), st == 200 and b == fixture(fx)
                  and h["content-type"] == "application/json"
                  and int(h["content-length"]) == len(b))

        # stream chat
        for model, fx in [("some/model", "openai_stream_text.sse"),
                          ("mock/tools", "openai_stream_with_tool_calls.sse")]:
            status, chunks, end = raw_stream(p, model)
            check("stream %s = %s, one event per chunk" % (model, fx),
                  b"200" in status and end == "clean" and b"".join(chunks) == fixture(fx)
                  and all(c.endswith(b"\n\n") and c.count(b"\n\n") == 1 for c in chunks))

        # status scenarios
        for code in (400, 401, 402, 403, 404, 429, 500, 502, 503, 504):
            st, h, b = chat(p, "mock/status-%d" % code)
            want = fixture("openai_error_401.json" if code == 401 else
                           "hf_router_error_400_model_not_supported_constructed.json")
            ra_ok = (h.get("retry-after") == "7") == (code in (429, 503))
            check("status-%d object envelope" % code, st == code and b == want and ra_ok)
        st, h, b = chat(p, "mock/status-401-str")
        check("status-401-str string envelope", st == 401 and b == fixture("hf_hub_error_401.json"))
        st, h, b = chat(p, "mock/status-503-html")
        check("status-503-html", st == 503 and h["content-type"] == "text/html"
              and b"<html>" in b and h.get("retry-after") == "7")

        # finish reasons
        st, h, b = chat(p, "mock/finish-eos_token")
        check("finish-eos_token non-stream", json.loads(b)["choices"][0]["finish_reason"] == "eos_token"
              and b.replace(b'"eos_token"', b'"stop"') == fixture("openai_chat_response.json"))
        st, h, b = chat(p, "mock/finish-null")
        check("finish-null non-stream", json.loads(b)["choices"][0]["finish_reason"] is None)
        st, h, b = chat(p, "mock/finish-max_tokens", stream=True)
        check("finish-max_tokens stream", b'"finish_reason":"max_tokens"' in b
              and b'"finish_reason":"stop"' not in b)

        # reasoning
        st, h, b = chat(p, "mock/reasoning")
        msg = json.loads(b)["choices"][0]["message"]
        check("reasoning non-stream", msg.get("reasoning_content") and msg.get("content"))
        st, h, b = chat(p, "mock/reasoning", stream=True)
        events = [json.loads(e[6:]) for e in b.decode().split("\n\n") if e.startswith("data: {")]
        kinds = ["r" if "reasoning_content" in (e["choices"] or [{}])[0].get("delta", {}) else "c"
                 for e in events]
        check("reasoning stream: reasoning deltas before content", "".join(kinds).startswith("crrrrc"))

        # mid-stream errors
        status, chunks, end = raw_stream(p, "mock/error-mid-stream")
        last = json.loads(chunks[-1][6:])
        check("error-mid-stream", end == "clean" and len(chunks) == 3
              and last["error"]["type"] == "server_error")
        status, chunks, end = raw_stream(p, "mock/error-mid-stream-str")
        check("error-mid-stream-str", end == "clean" and isinstance(json.loads(chunks[-1][6:])["error"], str))

        # broken streams
        status, chunks, end = raw_stream(p, "mock/reset-mid-stream")
        check("reset-mid-stream: 2 events then RST", len(chunks) == 2 and end == "reset", end)
        status, chunks, end = raw_stream(p, "mock/truncate-mid-stream")
        check("truncate-mid-stream: 2 events then EOF", len(chunks) == 2 and end == "eof", end)

        # bad bodies
        st, h, b = chat(p, "mock/bad-json")
        try:
            json.loads(b)
            bad = False
        except ValueError:
            bad = True
        check("bad-json", st == 200 and bad)
        st, h, b = chat(p, "mock/empty")
        check("empty", st == 200 and b == b"" and h["content-length"] == "0")
        st, h, b = request(p, "POST", "/v1/chat/completions", b"{not json")
        check("invalid JSON request -> 400", st == 400 and "error" in json.loads(b))

        # echo
        sent = {"model": "mock/echo", "messages": [{"role": "user", "content": "h\u00e9"}], "x": [1]}
        st, h, b = request(p, "POST", "/v1/chat/completions", sent)
        echoed = json.loads(json.loads(b)["choices"][0]["message"]["content"])
        check("echo non-stream", echoed == sent)
        sent["stream"] = True
        st, h, b = request(p, "POST", "/v1/chat/completions", sent)
        events = [json.loads(e[6:]) for e in b.decode().split("\n\n") if e.startswith("data: {")]
        texts = [e["choices"][0]["delta"].get("content") for e in events if e["choices"]]
        check("echo stream", json.loads(texts[1]) == sent and b.endswith(b"data: [DONE]\n\n"))

        # recording
        urllib.request.urlopen(urllib.request.Request(m.url("/__mock/reset"), method="POST")).read()
        c = http.client.HTTPConnection("127.0.0.1", p, timeout=10)
        request(p, "GET", "/v1/models?x=1", conn=c)
        request(p, "POST", "/v1/chat/completions", {"model": "a"}, conn=c)
        c.close()
        recs = m.get_json("/__mock/requests")
        check("records: two, same connection, in order",
              len(recs) == 2 and recs[0]["conn_id"] == recs[1]["conn_id"]
              and [r["conn_seq"] for r in recs] == [1, 2] and recs[0]["query"] == "x=1"
              and recs[1]["body"] == '{"model": "a"}' and recs[1]["status"] == 200)
        last = m.get_json("/__mock/last")
        check("last record", last["method"] == "POST"
              and ["Content-Type", "application/json"] in last["headers"])

        # chunked request body
        s = socket.create_connection(("127.0.0.1", p))
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                  b"Connection: close\r\n\r\n5\r\n{\"mod\r\n10\r\nel\":\"mock/echo\"}\r\n0\r\n\r\n")
        out = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
        s.close()
        check("chunked request body", out.startswith(b"HTTP/1.1 200")
              and m.get_json("/__mock/last")["body"] == '{"model":"mock/echo"}')

        # gates
        def release_g1():
            urllib.request.urlopen(m.url("/__mock/release?id=g1")).read()
        status, chunks, end = raw_stream(p, "mock/stream-gated-g1", gate_release=release_g1)
        g = m.get_json("/__mock/gates?id=g1")
        check("gated: released after first event", end == "clean" and len(chunks) == 34
              and g["released_before_second"] is True and g["state"] == "done")
        t0 = time.time()
        status, chunks, end = raw_stream(p, "mock/stream-gated-g2")
        g = m.get_json("/__mock/gates?id=g2")
        check("gated: no release -> timeout, released_before_second false",
              end == "clean" and g["released_before_second"] is False and g["timed_out"]
              and time.time() - t0 >= 0.9)

        gemini_checks(m, p)
    finally:
        rc = m.stop()
    check("SIGTERM exits 0", rc == 0, str(rc))

    passed = sum(results)
    print("%d passed, %d failed" % (passed, len(results) - passed))
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
