-- wrk script for bench/webhook.sh: POSTs one fixed, correctly signed GitHub `push` delivery to
-- /webhooks/github, with a unique X-GitHub-Delivery per request (so none is refused as a
-- redelivery). Configured through the environment (set by bench/webhook.sh):
--
--   WEBHOOK_BODY_FILE         the exact body bytes (the signature is over these bytes)
--   WEBHOOK_SIGNATURE         "sha256=<hex HMAC-SHA256 of the body>"
--   WEBHOOK_DELIVERY_PREFIX   8 hex characters, unique per run (ids never repeat across runs)
--   WEBHOOK_CONNECTION_CLOSE  "1": send `Connection: close` (a new TCP connection per delivery,
--                             as GitHub does) instead of wrk's keep-alive
--
-- At the end it prints one machine-readable line, `WRK_RESULT key=value ...` (latencies in µs).

local body_file = assert(os.getenv("WEBHOOK_BODY_FILE"), "WEBHOOK_BODY_FILE is not set")
local signature = assert(os.getenv("WEBHOOK_SIGNATURE"), "WEBHOOK_SIGNATURE is not set")
local prefix = os.getenv("WEBHOOK_DELIVERY_PREFIX") or "00000000"
local connection_close = os.getenv("WEBHOOK_CONNECTION_CLOSE") == "1"

local f = assert(io.open(body_file, "rb"))
local body = f:read("*a")
f:close()

-- setup() runs in the main Lua state, once per thread: give each thread its number.
local thread_count = 0
function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_no", thread_count)
end

-- request() runs in each thread's own Lua state; `counter` is per thread.
local counter = 0
function request()
  counter = counter + 1
  -- A GUID-shaped id like GitHub's: prefix-thread-4000-8000-counter.
  local id = string.format("%s-%04x-4000-8000-%012x", prefix, thread_no or 0, counter)
  local headers = {
    ["Content-Type"] = "application/json",
    ["User-Agent"] = "GitHub-Hookshot/bench",
    ["X-GitHub-Event"] = "push",
    ["X-GitHub-Delivery"] = id,
    ["X-GitHub-Hook-ID"] = "489312745",
    ["X-Hub-Signature-256"] = signature,
  }
  if connection_close then
    headers["Connection"] = "close"
  end
  return wrk.format("POST", "/webhooks/github", headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d errors_connect=%d errors_read=%d errors_write=%d " ..
      "errors_status=%d errors_timeout=%d p50_us=%.0f p90_us=%.0f p99_us=%.0f p999_us=%.0f " ..
      "max_us=%.0f mean_us=%.1f\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
