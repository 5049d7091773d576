-- wrk script for tests/bench/bench_intake.py: POST registrations, each for a new company
-- (so intake does its full work), and print one JSON line: 202s, other answers, latency.
-- DEALREG_KEY: the partner's API key (the ceiling ignores it).
local key = os.getenv("DEALREG_KEY") or ""
local close = os.date("!%Y-%m-%d", os.time() + 60 * 86400)
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  accepted, other = 0, 0
  wrk.method = "POST"
  wrk.path = "/v1/registrations"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. key
end

function request()
  counter = counter + 1
  local name = string.format("Benchco %d-%d Systems", tid, counter)
  local body = string.format('{"customer":{"name":"%s","domain":"benchco-%d-%d-%d.com","country":"US"},'
    .. '"product_line":"network-security","deal_type":"new","amount":{"value":"50000.00","currency":"USD"},'
    .. '"expected_close_date":"%s"}', name, tid, counter, os.time() % 100000, close)
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status == 202 then accepted = accepted + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local ok, bad = 0, 0
  for _, thread in ipairs(threads) do
    ok = ok + thread:get("accepted")
    bad = bad + thread:get("other")
  end
  io.write(string.format('{"accepted": %d, "other": %d, "errors": %d, "seconds": %.3f, '
    .. '"p50_ms": %.2f, "p99_ms": %.2f}\n', ok, bad,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
