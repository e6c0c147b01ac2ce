#!/usr/bin/env bash
#
# bench/run.sh: the gateway against plain nginx proxy_pass, on the same
# mock upstream, in one run.  "make bench" calls it; see bench/README.md.
#
# Three nginx instances on 127.0.0.1, each with its own prefix under
# build/bench/:
#
#   mock     1 worker, answers every POST with a file:
#            /v1/chat/completions         t/fixtures/openai_chat_response.json
#            /stream/v1/chat/completions  t/fixtures/openai_stream_text.sse
#            /v1beta/models/gemini-2.0-flash:generateContent
#                                         bench/data/gemini_generate_response.json
#            /v1beta/models/gemini-2.0-flash:streamGenerateContent
#                                         bench/data/gemini_stream.sse
#            (the two Gemini answers are constructed for the benchmark by
#            bench/data/make-gemini.py, not recorded traffic)
#   gateway  the module: location /v1/ { llm_gateway; }, subrequests to
#            internal locations that proxy_pass to the mock
#   proxy    the same proxy_pass settings and upstream keepalive, without
#            the module (for Gemini: the mock's bytes untranslated)
#
# wrk (bench/post.lua) POSTs the same JSON body to the gateway and to the
# proxy, alternating between them, BENCH_REPEATS times per scenario; the
# medians are printed and written to bench/results/latest.json.

set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

NGINX=${NGINX:-/usr/sbin/nginx}
MODULE=${MODULE:-$TOP/build/ngx_llm_gateway_module.so}
WRK=${WRK:-wrk}

DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-2s}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-1}
REPEATS=${BENCH_REPEATS:-3}
WORKERS=${BENCH_WORKERS:-1}
KEEPALIVE=${BENCH_UPSTREAM_KEEPALIVE:-32}
SCENARIOS=${BENCH_SCENARIOS:-chat stream gemini-chat gemini-stream}
AUTH=${BENCH_AUTH:-0}
MOCK_DIRECT=${BENCH_MOCK_DIRECT:-1}
TARGET_RATIO=${BENCH_TARGET_RATIO:-0.8}
STRICT=${BENCH_STRICT:-0}
PERF=${BENCH_PERF:-0}
KEYS=${BENCH_KEYS:-1}

WORK=$TOP/build/bench
RESULTS=${BENCH_RESULTS_DIR:-$TOP/bench/results}
FIXTURES=$TOP/t/fixtures
DATA=$TOP/bench/data
LUA=$TOP/bench/post.lua

UPSTREAM_KEY=bench-upstream-key-0123456789abcdef
CLIENT_TOKEN=bench-client-token-0123456789

die() { echo "bench: $*" >&2; exit 1; }
say() { echo "bench: $*" >&2; }

# ------------------------------------------------------------ checks

TOOLS=("$NGINX" "$WRK" curl python3)
[ "$PERF" = 1 ] && TOOLS+=(perf)

for tool in "${TOOLS[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found"
done

[ -f "$MODULE" ] || die "$MODULE not found (make build)"

for s in $SCENARIOS; do
    case $s in
        chat|stream|gemini-chat|gemini-stream) ;;
        *) die "unknown scenario \"$s\" in BENCH_SCENARIOS" \
               "(chat, stream, gemini-chat, gemini-stream)" ;;
    esac
done

# ------------------------------------------------------------ processes

PIDS=()

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
}

trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

# three free ports on 127.0.0.1 (held open together, so they differ)
read -r MOCK_PORT GW_PORT PX_PORT < <(python3 - <<'EOF'
import socket
socks = []
for _ in range(3):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
)

rm -rf "$WORK"
mkdir -p "$WORK" "$RESULTS"

for name in mock gateway proxy; do
    mkdir -p "$WORK/$name/conf" "$WORK/$name/logs" "$WORK/$name/temp"
done

# a private copy: a rebuild during the run must not change the code under
# the running gateway
cp "$MODULE" "$WORK/ngx_llm_gateway_module.so"
MODULE_SHA=$(sha256sum "$MODULE" | cut -c1-16)
MODULE=$WORK/ngx_llm_gateway_module.so

# ------------------------------------------------------------ request bodies

cat > "$WORK/chat.json" <<'EOF'
{"model":"meta-llama/Llama-3.1-8B-Instruct","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"What is the weather like in San Francisco today?"}],"max_tokens":256,"temperature":0.7}
EOF

cat > "$WORK/stream.json" <<'EOF'
{"model":"stream/Llama-3.1-8B-Instruct","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"What is the weather like in San Francisco today?"}],"max_tokens":256,"temperature":0.7,"stream":true}
EOF

# the Gemini scenarios: the same messages to a Gemini model; the gateway
# translates them to generateContent / streamGenerateContent
GEMINI_MODEL=gemini-2.0-flash

cat > "$WORK/gemini-chat.json" <<EOF
{"model":"$GEMINI_MODEL","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"What is the weather like in San Francisco today?"}],"max_tokens":256,"temperature":0.7}
EOF

cat > "$WORK/gemini-stream.json" <<EOF
{"model":"$GEMINI_MODEL","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"What is the weather like in San Francisco today?"}],"max_tokens":256,"temperature":0.7,"stream":true}
EOF

# ------------------------------------------------------------ configs

# shared by every instance
# run as root (a CI machine), the workers would be "nobody", who may not
# read a checkout under a private directory: they stay root, as in tests
WORKER_USER=
[ "$(id -u)" = 0 ] && WORKER_USER="user              root;"

common_main() {
    cat <<EOF
$WORKER_USER
worker_processes  $1;
pid               logs/nginx.pid;
error_log         logs/error.log warn;

events {
    worker_connections  4096;
}
EOF
}

common_http() {
    cat <<EOF
    access_log          off;
    keepalive_requests  1000000;
    keepalive_timeout   60s;

    client_body_temp_path  temp/body;
    proxy_temp_path        temp/proxy;
    fastcgi_temp_path      temp/fastcgi;
    uwsgi_temp_path        temp/uwsgi;
    scgi_temp_path         temp/scgi;
EOF
}

# the upstream block and the proxy settings are the same in the gateway
# and in the plain proxy
upstream_block() {
    cat <<EOF
    upstream mock {
        server     127.0.0.1:$MOCK_PORT;
        keepalive  $KEEPALIVE;
    }
EOF
}

# proxy_settings header value: the upstream key goes in "Authorization:
# Bearer ..." (OpenAI-shaped upstreams) or in "x-goog-api-key" (Gemini)
proxy_settings() {
    cat <<EOF
            proxy_http_version  1.1;
            proxy_set_header    Connection  "";
            proxy_set_header    $1  "$2";
            proxy_buffering     off;
            proxy_read_timeout  30s;
EOF
}

# the mock: the static handler refuses POST with 405, and error_page
# serves the same URI as a GET with status 200, so every POST gets the
# fixture's bytes (chat: with Content-Length, from the open file cache;
# stream: chunked, as event streams are)
mkdir -p "$WORK/mock/html/v1/chat" "$WORK/mock/html/stream/v1/chat"
cp "$FIXTURES/openai_chat_response.json" "$WORK/mock/html/v1/chat/completions"
cp "$FIXTURES/openai_stream_text.sse" "$WORK/mock/html/stream/v1/chat/completions"

# Gemini's paths end in ":method" ("?alt=sse" for the stream; the static
# handler ignores the query); the files are named so.  Their bytes are
# constructed for the benchmark (bench/data/make-gemini.py), in the shapes
# of the recorded samples t/fixtures/gemini_generate_response.json and
# t/fixtures/gemini_stream_basic.sse; they are not recorded traffic.
GEMINI_CHAT_PATH=/v1beta/models/$GEMINI_MODEL:generateContent
GEMINI_STREAM_PATH=/v1beta/models/$GEMINI_MODEL:streamGenerateContent
mkdir -p "$WORK/mock/html/v1beta/models"
cp "$DATA/gemini_generate_response.json" "$WORK/mock/html$GEMINI_CHAT_PATH"
cp "$DATA/gemini_stream.sse" "$WORK/mock/html$GEMINI_STREAM_PATH"

{
    common_main 1
    cat <<EOF

http {
$(common_http)

    open_file_cache  max=16 inactive=600s;
    open_file_cache_valid  600s;

    server {
        listen  127.0.0.1:$MOCK_PORT backlog=4096;
        root    html;

        location = /v1/chat/completions {
            default_type  application/json;
            error_page    405 =200 \$uri;
        }

        # an event stream has no length: real SSE upstreams answer with
        # chunked transfer encoding, and so does this one (the SSI filter
        # drops the file's Content-Length; the fixture has no SSI commands)
        location = /stream/v1/chat/completions {
            default_type  text/event-stream;
            add_header    Cache-Control  no-cache;
            error_page    405 =200 \$uri;
            ssi           on;
            ssi_types     text/event-stream;
        }

        # Gemini: generateContent with a Content-Length,
        # streamGenerateContent?alt=sse chunked, as above
        location = $GEMINI_CHAT_PATH {
            default_type  application/json;
            error_page    405 =200 \$uri;
        }

        location = $GEMINI_STREAM_PATH {
            default_type  text/event-stream;
            add_header    Cache-Control  no-cache;
            error_page    405 =200 \$uri;
            ssi           on;
            ssi_types     text/event-stream;
        }
    }
}
EOF
} > "$WORK/mock/conf/nginx.conf"

if [ "$AUTH" = 1 ]; then
    GW_AUTH="llm_gateway_auth  token=$CLIENT_TOKEN;"
else
    GW_AUTH="llm_gateway_auth  off;"
fi

# key=... for BENCH_KEYS keys: the first is the one proxy_pass sends
key_params() {
    local i out="key=$UPSTREAM_KEY"
    for ((i = 1; i < KEYS; i++)); do
        out="$out key=bench-upstream-key-$(printf '%04d' "$i")-0123456789"
    done
    printf '%s' "$out"
}

{
    echo "load_module  $MODULE;"
    echo
    common_main "$WORKERS"
    cat <<EOF

http {
$(common_http)

$(upstream_block)

    llm_gateway_zone  zone=llm_bench:1m;

    # BENCH_KEYS keys per provider, in the shared pool; the mock takes any
    llm_gateway_provider  hf   type=hf_router pass=/_llm/hf  $(key_params);
    llm_gateway_provider  hfs  type=hf_router pass=/_llm/hfs $(key_params);
    llm_gateway_provider  gemini  type=gemini pass=/_llm/gemini $(key_params);

    # the stream scenario's model goes to a provider whose location maps
    # to the mock's SSE path
    llm_gateway_model  ~^stream/       hfs;
    llm_gateway_model  ~^[^/]+/[^/]+\$  hf;
    llm_gateway_model  ~^gemini-       gemini;

    server {
        listen  127.0.0.1:$GW_PORT backlog=4096;

        location /v1/ {
            llm_gateway;
            $GW_AUTH
        }

        location /_llm/hf/ {
            internal;
            proxy_pass  http://mock/;
$(proxy_settings Authorization "Bearer \$llm_gateway_upstream_key")
        }

        location /_llm/hfs/ {
            internal;
            proxy_pass  http://mock/stream/;
$(proxy_settings Authorization "Bearer \$llm_gateway_upstream_key")
        }

        # the gateway asks for /v1beta/models/{model}:generateContent or
        # :streamGenerateContent?alt=sse below this prefix
        location /_llm/gemini/ {
            internal;
            proxy_pass  http://mock/;
$(proxy_settings x-goog-api-key "\$llm_gateway_upstream_key")
        }
    }
}
EOF
} > "$WORK/gateway/conf/nginx.conf"

{
    common_main "$WORKERS"
    cat <<EOF

http {
$(common_http)

$(upstream_block)

    server {
        listen  127.0.0.1:$PX_PORT backlog=4096;

        location = /v1/chat/completions {
            proxy_pass  http://mock;
$(proxy_settings Authorization "Bearer $UPSTREAM_KEY")
        }

        location = /stream/v1/chat/completions {
            proxy_pass  http://mock;
$(proxy_settings Authorization "Bearer $UPSTREAM_KEY")
        }

        # Gemini: the client's path mapped onto the upstream path the
        # gateway calls (with the same query and key header); the answer
        # goes back untranslated, so the difference with the gateway is
        # what the translation costs on top of proxying
        location = /gemini/v1/chat/completions {
            proxy_pass  http://mock$GEMINI_CHAT_PATH;
$(proxy_settings x-goog-api-key "$UPSTREAM_KEY")
        }

        location = /gemini-stream/v1/chat/completions {
            proxy_pass  http://mock$GEMINI_STREAM_PATH?alt=sse;
$(proxy_settings x-goog-api-key "$UPSTREAM_KEY")
        }
    }
}
EOF
} > "$WORK/proxy/conf/nginx.conf"

# ------------------------------------------------------------ start

declare -A MASTER

start_nginx() {
    local name=$1 port=$2 i

    "$NGINX" -p "$WORK/$name/" -c conf/nginx.conf -e logs/error.log -t -q \
        || die "nginx -t failed for $WORK/$name/conf/nginx.conf"

    "$NGINX" -p "$WORK/$name/" -c conf/nginx.conf -e logs/error.log \
        -g 'daemon off;' &
    PIDS+=("$!")
    MASTER[$name]=$!

    for i in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        kill -0 "${MASTER[$name]}" 2>/dev/null \
            || die "$name nginx exited: $(tail -5 "$WORK/$name/logs/error.log")"
        sleep 0.05
    done

    die "$name nginx does not answer on 127.0.0.1:$port"
}

start_nginx mock "$MOCK_PORT"
start_nginx gateway "$GW_PORT"
start_nginx proxy "$PX_PORT"

# the worker of an instance (its CPU time is read around every run)
worker_pid() {
    local kids
    kids=$(cat "/proc/${MASTER[$1]}/task/${MASTER[$1]}/children" 2>/dev/null \
           || ps -o pid= --ppid "${MASTER[$1]}")
    echo $kids
}

cpu_ticks() {
    local pid total=0 f
    for pid in $(worker_pid "$1"); do
        f=$(cut -d')' -f2- "/proc/$pid/stat" 2>/dev/null) || continue
        # after "pid (comm)": field 12 is utime, 13 is stime
        total=$(( total + $(echo "$f" | awk '{print $12 + $13}') ))
    done
    echo "$total"
}

# ------------------------------------------------------------ targets

url_of() {   # target scenario
    local port path=/v1/chat/completions
    case $1 in
        gateway) port=$GW_PORT ;;
        proxy) port=$PX_PORT ;;
        mock) port=$MOCK_PORT ;;
    esac
    # the gateway takes every scenario at /v1/chat/completions (the model
    # and "stream" in the body choose); the proxy tells them by path
    if [ "$1" != gateway ]; then
        case $2 in
            stream) path=/stream/v1/chat/completions ;;
            gemini-chat)
                if [ "$1" = mock ]; then path=$GEMINI_CHAT_PATH
                else path=/gemini/v1/chat/completions; fi ;;
            gemini-stream)
                if [ "$1" = mock ]; then path="$GEMINI_STREAM_PATH?alt=sse"
                else path=/gemini-stream/v1/chat/completions; fi ;;
        esac
    fi
    echo "http://127.0.0.1:$port$path"
}

# the upstream's bytes for a scenario (what the mock and the proxy return,
# and the gateway too for chat and stream)
fixture_of() {
    case $1 in
        chat) echo "$FIXTURES/openai_chat_response.json" ;;
        stream) echo "$FIXTURES/openai_stream_text.sse" ;;
        gemini-chat) echo "$DATA/gemini_generate_response.json" ;;
        gemini-stream) echo "$DATA/gemini_stream.sse" ;;
    esac
}

# does the gateway translate the answer (target scenario)?
translated() {
    [ "$1" = gateway ] && case $2 in gemini-*) true ;; *) false ;; esac
}

ctype_of() {
    case $1 in
        *stream) echo text/event-stream ;;
        *) echo application/json ;;
    esac
}

# what every answer must contain (target scenario); several markers are
# separated by newlines, all must be there
marker_of() {
    case $2 in
        chat) echo '"chat.completion"' ;;
        stream) echo 'data: [DONE]' ;;
        gemini-chat)
            if translated "$1" "$2"; then
                printf '%s\n%s\n' '"object":"chat.completion"' '"finish_reason":"stop"'
            else
                echo '"finishReason": "STOP"'
            fi ;;
        gemini-stream)
            if translated "$1" "$2"; then
                printf '%s\n%s\n' '"finish_reason":"stop"' 'data: [DONE]'
            else
                echo '"finishReason": "STOP"'
            fi ;;
    esac
}

# the exact length of every answer: the upstream bytes', or for a
# translated answer the length of the one the sanity check verified (its
# id and created fields vary in value, not in length)
declare -A EXPECT_LEN

expect_len_of() {   # target scenario
    if translated "$1" "$2"; then
        echo "${EXPECT_LEN[$1/$2]}"
    else
        wc -c < "$(fixture_of "$2")"
    fi
}

# ------------------------------------------------------------ sanity

# the gateway's translation of the Gemini answers: an OpenAI
# chat.completion whose content is bench/data/gemini_text.txt, or an
# OpenAI event stream whose deltas add up to that text and that ends with
# "data: [DONE]"; the usage is Gemini's
verify_translation() {   # scenario body
    python3 - "$1" "$2" "$DATA/gemini_text.txt" \
        "$DATA/gemini_generate_response.json" "$GEMINI_MODEL" <<'EOF'
import json, sys

scenario, body_file, text_file, gemini_file, model = sys.argv[1:]
body = open(body_file, "rb").read().decode("utf-8")
text = open(text_file, encoding="utf-8").read()
gusage = json.load(open(gemini_file, encoding="utf-8"))["usageMetadata"]

def fail(why):
    print("translation: " + why, file=sys.stderr)
    sys.exit(1)

if scenario == "gemini-chat":
    d = json.loads(body)
    if d.get("object") != "chat.completion" or d.get("model") != model:
        fail("not a chat.completion for %s" % model)
    if len(d["choices"]) != 1:
        fail("%d choices" % len(d["choices"]))
    c = d["choices"][0]
    if c["message"].get("role") != "assistant" or c["message"].get("content") != text:
        fail("the message content is not the text of gemini_text.txt")
    if c.get("finish_reason") != "stop":
        fail("finish_reason %r" % c.get("finish_reason"))
    u = d.get("usage") or {}
    if (u.get("prompt_tokens"), u.get("completion_tokens"), u.get("total_tokens")) \
            != (gusage["promptTokenCount"], gusage["candidatesTokenCount"],
                gusage["totalTokenCount"]):
        fail("usage %r" % u)
else:
    if not body.endswith("\n\ndata: [DONE]\n\n"):
        fail("does not end with data: [DONE]")
    events = body.split("\n\n")[:-2]
    content, finish = "", []
    for e in events:
        if not e.startswith("data: ") or "\n" in e:
            fail("not one data: line per event: %r" % e[:80])
        d = json.loads(e[6:])
        if d.get("object") != "chat.completion.chunk" or d.get("model") != model:
            fail("not a chat.completion.chunk for %s: %r" % (model, e[:80]))
        for c in d["choices"]:
            content += c["delta"].get("content") or ""
            if c.get("finish_reason") is not None:
                finish.append(c["finish_reason"])
    if content != text:
        fail("the deltas do not add up to the text of gemini_text.txt")
    if finish != ["stop"]:
        fail("finish reasons %r" % finish)
    print("%d events" % len(events), file=sys.stderr)
EOF
}

# one request per target and scenario with curl: 200, the content type,
# and the upstream's bytes (the gateway passes the OpenAI-shaped bodies
# through unchanged; the Gemini ones it must translate), or the run stops
# here
check() {
    local target=$1 scenario=$2 out code ctype ok=1 expected
    out=$WORK/check-$target-$scenario

    read -r code ctype < <(curl -sS -o "$out.body" -D "$out.headers" \
        -w '%{http_code} %{content_type}\n' --max-time 10 \
        -X POST -H 'Content-Type: application/json' \
        -H "Authorization: Bearer $CLIENT_TOKEN" \
        --data-binary @"$WORK/$scenario.json" "$(url_of "$target" "$scenario")") \
        || die "$target/$scenario: curl failed"

    if [ "$code" != 200 ] || [ "${ctype%%;*}" != "$(ctype_of "$scenario")" ]; then
        ok=0
    elif translated "$target" "$scenario"; then
        expected="the translation of $(fixture_of "$scenario")"
        if verify_translation "$scenario" "$out.body" 2> "$out.verify"; then
            EXPECT_LEN[$target/$scenario]=$(wc -c < "$out.body")
        else
            ok=0
            cat "$out.verify" >&2
        fi
    else
        expected="the bytes of $(fixture_of "$scenario")"
        cmp -s "$out.body" "$(fixture_of "$scenario")" || ok=0
    fi

    if [ "$ok" = 0 ]; then
        say "$target/$scenario: expected 200 $(ctype_of "$scenario") with" \
            "${expected:-the expected body}"
        say "got $code $ctype, $(wc -c < "$out.body") bytes:"
        head -c 600 "$out.body" >&2; echo >&2
        say "error log of $target:"
        tail -20 "$WORK/$target/logs/error.log" >&2 || true
        exit 1
    fi
}

for s in $SCENARIOS; do
    check mock "$s"
    check proxy "$s"
    check gateway "$s"
done

say "sanity: the mock and the proxy answer 200 with the upstream's bytes," \
    "the gateway with the same bytes or (Gemini) their translation"

# ------------------------------------------------------------ wrk runs

RUNS=$WORK/runs.jsonl
: > "$RUNS"

CLK_TCK=$(getconf CLK_TCK)

# run_wrk target scenario duration phase rep
run_wrk() {
    local target=$1 scenario=$2 dur=$3 phase=$4 rep=$5
    local out=$WORK/wrk-$phase-$scenario-$target-$rep.txt
    local front0 mock0 front1 mock1 result

    # BENCH_PERF=1: a profile of the front worker during the first
    # measured run of the gateway and of the proxy
    local perf_pid="" perf_data=$WORK/perf-$scenario-$target
    if [ "$PERF" = 1 ] && [ "$phase" = measure ] && [ "$rep" = 1 ]; then
        perf record -q -F 1999 -g -o "$perf_data.data" \
            -p "$(worker_pid "$target" | tr ' ' ',')" > "$perf_data.log" 2>&1 &
        perf_pid=$!
        sleep 0.2
    fi

    front0=$(cpu_ticks "$target")
    mock0=$(cpu_ticks mock)

    BENCH_BODY_FILE=$WORK/$scenario.json \
    BENCH_TOKEN=$CLIENT_TOKEN \
    BENCH_EXPECT_LEN=$(expect_len_of "$target" "$scenario") \
    BENCH_EXPECT=$(marker_of "$target" "$scenario") \
        "$WRK" -t"$THREADS" -c"$CONNECTIONS" -d"$dur" --timeout 10s \
        -s "$LUA" "$(url_of "$target" "$scenario")" > "$out" 2>&1 \
        || { cat "$out" >&2; die "wrk failed ($target/$scenario)"; }

    front1=$(cpu_ticks "$target")
    mock1=$(cpu_ticks mock)

    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid" 2>/dev/null || true
        wait "$perf_pid" 2>/dev/null || true
        perf report -i "$perf_data.data" --stdio --no-children \
            --sort dso,symbol --percent-limit 0.5 -g none \
            > "$perf_data.txt" 2>/dev/null || true
        perf report -i "$perf_data.data" --stdio --children \
            --sort symbol --percent-limit 2 -g none \
            > "$perf_data.children.txt" 2>/dev/null || true
    fi

    local name
    for name in mock gateway proxy; do
        if grep -q 'exited on signal' "$WORK/$name/logs/error.log"; then
            grep 'exited on signal' "$WORK/$name/logs/error.log" | head -3 >&2
            die "a $name worker crashed during $target/$scenario"
        fi
    done

    result=$(sed -n 's/^BENCH_RESULT //p' "$out")
    [ -n "$result" ] || { cat "$out" >&2; die "no result from wrk ($target/$scenario)"; }

    printf '{"phase":"%s","scenario":"%s","target":"%s","rep":%d,"cpu_front_s":%s,"cpu_mock_s":%s,"wrk":%s}\n' \
        "$phase" "$scenario" "$target" "$rep" \
        "$(awk -v t=$((front1 - front0)) -v h="$CLK_TCK" 'BEGIN{printf "%.3f", t/h}')" \
        "$(awk -v t=$((mock1 - mock0)) -v h="$CLK_TCK" 'BEGIN{printf "%.3f", t/h}')" \
        "$result" >> "$RUNS"

    awk -v r="$result" 'BEGIN{
        match(r, /"rps":[0-9.]+/); rps = substr(r, RSTART + 6, RLENGTH - 6);
        printf "%.0f req/s", rps }'
}

# how busy the machine is without us, over one second (from /proc/stat)
cpu_busy_pct() {
    local a b
    a=$(head -1 /proc/stat)
    sleep 1
    b=$(head -1 /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN {
        n = split(a, x); split(b, y); t = 0
        for (i = 2; i <= n; i++) t += y[i] - x[i]
        idle = (y[5] - x[5]) + (y[6] - x[6])
        printf "%.0f", t ? 100 * (t - idle) / t : 0 }'
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
BUSY_BEFORE=$(cpu_busy_pct)
if [ "$BUSY_BEFORE" -gt 20 ]; then
    say "warning: the CPUs were ${BUSY_BEFORE}% busy before the run; the figures will be noisy"
fi

say "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $REPEATS runs each," \
    "nginx workers: $WORKERS (mock 1), upstream keepalive $KEEPALIVE"

for s in $SCENARIOS; do
    for t in gateway proxy; do
        rps=$(run_wrk "$t" "$s" "$WARMUP" warmup 0)
        say "warm-up $s/$t ($WARMUP): $rps"
    done

    for rep in $(seq 1 "$REPEATS"); do
        # alternate the order so drift on the machine hits both
        if [ $((rep % 2)) = 1 ]; then order="gateway proxy"; else order="proxy gateway"; fi
        for t in $order; do
            rps=$(run_wrk "$t" "$s" "$DURATION" measure "$rep")
            say "$s/$t run $rep/$REPEATS: $rps"
        done
    done

    if [ "$MOCK_DIRECT" = 1 ]; then
        rps=$(run_wrk mock "$s" "$DURATION" reference 1)
        say "$s/mock (direct, reference): $rps"
    fi
done

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------ report

log_problems() {
    grep -cE '\[(alert|crit|emerg|error)\]' "$WORK/$1/logs/error.log" || true
}

BENCH_RUNS=$RUNS \
BENCH_OUT=$RESULTS/latest.json \
BENCH_META=$(python3 - "$@" <<EOF
import json, os
print(json.dumps({
    "duration": "$DURATION", "warmup": "$WARMUP",
    "connections": $CONNECTIONS, "threads": $THREADS,
    "repeats": $REPEATS, "workers": $WORKERS, "mock_workers": 1,
    "keys": $KEYS,
    "upstream_keepalive": $KEEPALIVE, "auth": $AUTH == 1,
    "target_ratio": $TARGET_RATIO,
    "cpus": os.cpu_count(),
    "load_start": "$LOAD_START", "load_end": "$LOAD_END",
    "cpu_busy_before_pct": $BUSY_BEFORE,
    "nginx": "$("$NGINX" -v 2>&1 | sed 's/.*: //')",
    "wrk": "$("$WRK" -v 2>&1 | head -1 | awk '{print $2}')",
    "module_sha256": "$MODULE_SHA",
    "commit": "$(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo unknown)",
    "error_log_lines": {"gateway": $(log_problems gateway),
                        "proxy": $(log_problems proxy),
                        "mock": $(log_problems mock)},
}))
EOF
) \
BENCH_STRICT=$STRICT \
python3 - <<'EOF'
import json, os, statistics, sys, time

runs = [json.loads(l) for l in open(os.environ["BENCH_RUNS"]) if l.strip()]
meta = json.loads(os.environ["BENCH_META"])
target = meta["target_ratio"]

def med(xs):
    return statistics.median(xs) if xs else None

def summarize(rs):
    w = [r["wrk"] for r in rs]
    reqs = [x["requests"] for x in w]
    return {
        "runs": len(rs),
        "rps": round(med([x["rps"] for x in w]), 1),
        "rps_all": [round(x["rps"], 1) for x in w],
        "p50_ms": round(med([x["latency_us"]["p50"] for x in w]) / 1000, 3),
        "p99_ms": round(med([x["latency_us"]["p99"] for x in w]) / 1000, 3),
        "cpu_us_per_req": round(med([r["cpu_front_s"] * 1e6 / max(x["requests"], 1)
                                     for r, x in zip(rs, w)]), 1),
        "mock_cpu_us_per_req": round(med([r["cpu_mock_s"] * 1e6 / max(x["requests"], 1)
                                          for r, x in zip(rs, w)]), 1),
        "requests": sum(reqs),
        "non2xx": sum(x["non2xx"] for x in w),
        "bad_body": sum(x["bad_body"] for x in w),
        "socket_errors": sum(sum(x["socket_errors"].values()) for x in w),
        "first_bad": next((x["first_bad"] for x in w if x["first_bad"]), ""),
    }

scenarios = []
for r in runs:
    if r["scenario"] not in scenarios:
        scenarios.append(r["scenario"])

result = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "config": meta,
          "scenarios": {}, "runs": runs}
errors = 0
below = []

rows = []
for s in scenarios:
    entry = {}
    for t in ("gateway", "proxy"):
        rs = [r for r in runs if r["scenario"] == s and r["target"] == t
              and r["phase"] == "measure"]
        if rs:
            entry[t] = summarize(rs)
            errors += entry[t]["non2xx"] + entry[t]["bad_body"] + entry[t]["socket_errors"]
    ref = [r for r in runs if r["scenario"] == s and r["phase"] == "reference"]
    if ref:
        entry["mock_direct"] = summarize(ref)
    if "gateway" in entry and "proxy" in entry and entry["proxy"]["rps"]:
        entry["ratio"] = round(entry["gateway"]["rps"] / entry["proxy"]["rps"], 3)
        if entry["ratio"] < target:
            below.append(s)
    result["scenarios"][s] = entry

with open(os.environ["BENCH_OUT"], "w") as f:
    json.dump(result, f, indent=2)
    f.write("\n")

hdr = ("scenario", "target", "req/s", "spread", "ratio", "p50 ms",
       "p99 ms", "cpu us/req", "errors")
fmt = "{:<13} {:<12} {:>8} {:>7} {:>6} {:>7} {:>7} {:>10} {:>6}"
print()
print(fmt.format(*hdr))
print("-" * 86)
for s, e in result["scenarios"].items():
    for t, label in (("gateway", "gateway"), ("proxy", "proxy_pass"),
                     ("mock_direct", "mock direct")):
        if t not in e:
            continue
        x = e[t]
        ratio = ""
        if t == "gateway" and "ratio" in e:
            ratio = "%.2f" % e["ratio"]
        spread = ""
        if len(x["rps_all"]) > 1 and x["rps"]:
            spread = "%.0f%%" % ((max(x["rps_all"]) - min(x["rps_all"]))
                                 * 100 / x["rps"])
        print(fmt.format(s, label, "%.0f" % x["rps"], spread, ratio,
                         "%.2f" % x["p50_ms"], "%.2f" % x["p99_ms"],
                         "%.1f" % x["cpu_us_per_req"],
                         x["non2xx"] + x["bad_body"] + x["socket_errors"]))
print()
print("req/s, p50, p99: medians of %d runs of %s, %d connections, %d wrk thread(s);"
      % (meta["repeats"], meta["duration"], meta["connections"], meta["threads"]))
print("ratio = gateway req/s / proxy_pass req/s (target >= %.2f);" % target)
print("spread: (max - min) / median of the runs' req/s;")
print("cpu us/req: CPU time (user + system) of the front nginx worker(s) per request.")
print("%d CPUs, %d%% busy before the run; load average %s at start, %s at end."
      % (meta["cpus"], meta["cpu_busy_before_pct"], meta["load_start"],
         meta["load_end"]))
for name, n in meta["error_log_lines"].items():
    if n:
        print("warning: %d [error]/[crit]/[alert] lines in the %s error log" % (n, name))
print("results: %s" % os.environ["BENCH_OUT"])

status = 0
if errors:
    print("FAILED: %d requests were not answered with the expected 200 body" % errors)
    for s, e in result["scenarios"].items():
        for t in ("gateway", "proxy"):
            if t in e and e[t]["first_bad"]:
                print("  %s/%s: %s" % (s, t, e[t]["first_bad"]))
    status = 1
if below:
    print("below target (%.2f): %s" % (target, ", ".join(below)))
    if os.environ.get("BENCH_STRICT") == "1":
        status = 1
sys.exit(status)
EOF
