-- wrk's side of bench/server.py: 32 connections registering people, every request a
-- different person (its own submission id), with the account's token from the command line:
--   wrk -t2 -c32 -d30s -s bench/register.lua URL/api/v1/registrations -- TOKEN
-- Prints one JSON line: requests, seconds, answered 200/201, other answers, p50, p99.
local threads = {}
local counter = 1

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

local bands = {"0-4", "5-11", "12-17", "18-59", "60+"}

function init(args)
  n = 0
  failed = 0
  registered = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. args[1]
end

function request()
  n = n + 1
  local body = string.format(
    '{"household":"H-wrk-%d-%d","site":"azovstal","age_band":"%s","sex":"%s",' ..
    '"destination":"%s","given_name":"Wrk%d","family_name":"Person%d",' ..
    '"submission_id":"wrk-%d-%d"}',
    id, math.floor(n / 4), bands[n % 5 + 1], (n % 2 == 0) and "female" or "male",
    (n % 3 == 0) and "bezimenne" or "zaporizhzhia", id, n, id, n)
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status == 201 or status == 200 then
    registered = registered + 1
  else
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local ok, bad = 0, 0
  for _, t in ipairs(threads) do
    ok = ok + t:get("registered")
    bad = bad + t:get("failed")
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "registered": %d, "errors": %d, ' ..
    '"p50_ms": %.3f, "p99_ms": %.3f}\n',
    summary.requests, summary.duration / 1e6, ok,
    bad + e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
