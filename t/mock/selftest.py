#!/usr/bin/env python3
"""Self-test of t/mock/llm_mock.py (Python 3 standard library only).

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
    finally:
        rc = m.stop()
    check("SIGTERM exits 0", rc == 0, str(rc))

    passed = sum(results)
    print("%d passed, %d failed" % (passed, len(results) - passed))
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
