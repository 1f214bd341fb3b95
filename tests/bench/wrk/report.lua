-- wrk script for tests/bench/run.py.
--
-- Reports one run in machine-readable form: done() prints a single line
-- "@@WRK_JSON {...}" (latencies in microseconds) after wrk's own summary.
-- errors.status is wrk's count of responses with an HTTP status >= 400; the apps
-- answer only 200, and the harness checks each server's response once before it
-- loads it, so a non-zero count means the server answered with an error.
-- (Counting every non-2xx status would need a response() callback, which makes wrk
-- copy each response into Lua and slows the client that shares the cores.)
--
-- BENCH_BODY_BYTES=N in the environment turns the request into a POST of N bytes.

local body_bytes = tonumber(os.getenv("BENCH_BODY_BYTES") or "0") or 0
if body_bytes > 0 then
    wrk.method = "POST"
    wrk.body = string.rep("b", body_bytes)
    wrk.headers["Content-Type"] = "application/octet-stream"
end

function done(summary, latency, requests)
    local e = summary.errors
    local function pct(q)
        return string.format("%.0f", latency:percentile(q))
    end
    io.write("@@WRK_JSON {",
        string.format('"requests":%d,"duration_us":%d,"bytes":%d,',
            summary.requests, summary.duration, summary.bytes),
        string.format('"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},',
            e.connect, e.read, e.write, e.status, e.timeout),
        '"latency_us":{',
        string.format('"min":%.0f,"mean":%.1f,"stdev":%.1f,"max":%.0f,',
            latency.min, latency.mean, latency.stdev, latency.max),
        '"p50":', pct(50), ',"p75":', pct(75), ',"p90":', pct(90),
        ',"p99":', pct(99), ',"p999":', pct(99.9), '}}\n')
end
