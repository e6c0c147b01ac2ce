-- wrk script for bench/run.sh: POSTs one JSON chat request over and over
-- and checks every answer.
--
-- Environment (set by run.sh):
--   BENCH_BODY_FILE   file holding the request body (JSON)
--   BENCH_TOKEN       sent as "Authorization: Bearer ..." (optional)
--   BENCH_EXPECT_LEN  exact length every response body must have (optional)
--   BENCH_EXPECT      a string every response body must contain (optional);
--                     several strings separated by newlines: all of them
--                     (the Gemini scenarios: the gateway's answers must be
--                     OpenAI JSON or SSE with finish_reason "stop", the
--                     proxy's Gemini's own, with finishReason "STOP")
--
-- done() prints one line, "BENCH_RESULT {json}", with the request count,
-- req/s, latency percentiles and the error counts: non-2xx answers, 2xx
-- answers whose body is not the expected one, and wrk's socket errors.

local function read_file(path)
    local f = assert(io.open(path, "rb"), "cannot open " .. tostring(path))
    local data = f:read("*a")
    f:close()
    return data
end

local body_file = os.getenv("BENCH_BODY_FILE")
assert(body_file, "BENCH_BODY_FILE is not set")

wrk.method = "POST"
wrk.body = read_file(body_file)
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"

local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. token
end

local expect_len = tonumber(os.getenv("BENCH_EXPECT_LEN") or "")
local expect = {}
for marker in string.gmatch(os.getenv("BENCH_EXPECT") or "", "[^\n]+") do
    table.insert(expect, marker)
end

local function has_markers(body)
    for _, marker in ipairs(expect) do
        if string.find(body, marker, 1, true) == nil then
            return false
        end
    end
    return true
end

-- per-thread counters, read back by done() through thread:get()

responses = 0
non2xx = 0
bad_body = 0
first_bad = ""

function response(status, headers, body)
    responses = responses + 1

    if status < 200 or status > 299 then
        non2xx = non2xx + 1
        if first_bad == "" then
            first_bad = "status " .. status .. ": " .. string.sub(body or "", 1, 200)
        end
        return
    end

    local ok = body ~= nil
        and (expect_len == nil or #body == expect_len)
        and has_markers(body)

    if not ok then
        bad_body = bad_body + 1
        if first_bad == "" then
            first_bad = "body (" .. #(body or "") .. " bytes): "
                        .. string.sub(body or "", 1, 200)
        end
    end
end

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

local function json_string(s)
    s = string.gsub(s, '[%c"\\]', function(c)
        if c == '"' then return '\\"' end
        if c == '\\' then return '\\\\' end
        return string.format("\\u%04x", string.byte(c))
    end)
    return '"' .. s .. '"'
end

function done(summary, latency, requests)
    local total_non2xx, total_bad, total_responses = 0, 0, 0
    local sample = ""

    for _, t in ipairs(threads) do
        total_responses = total_responses + t:get("responses")
        total_non2xx = total_non2xx + t:get("non2xx")
        total_bad = total_bad + t:get("bad_body")
        if sample == "" then
            sample = t:get("first_bad")
        end
    end

    local e = summary.errors
    local secs = summary.duration / 1e6

    io.write(string.format(
        'BENCH_RESULT {"requests":%d,"responses_checked":%d,'
        .. '"duration_s":%.3f,"rps":%.2f,"bytes":%d,'
        .. '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"mean":%.1f,"max":%d},'
        .. '"non2xx":%d,"bad_body":%d,'
        .. '"socket_errors":{"connect":%d,"read":%d,"write":%d,'
        .. '"timeout":%d},"first_bad":%s}\n',
        summary.requests, total_responses, secs, summary.requests / secs,
        summary.bytes,
        latency:percentile(50), latency:percentile(90),
        latency:percentile(99), latency.mean, latency.max,
        total_non2xx, total_bad,
        e.connect, e.read, e.write, e.timeout, json_string(sample)))
end
