-- wrk script for the POST /bookings load test.
--
--   wrk -t T -c C -d 15s --latency -s scripts/post_bookings.lua http://127.0.0.1:8088 -- TARGETS T
--
-- TARGETS is the file written by booking_targets.py (`token<TAB>json body` per line). Thread k
-- of T sends lines k, k+T, k+2T, ... each exactly once, so no two requests ask for the same or
-- an overlapping slot. If a thread runs out of lines it stops (the run then ends early and the
-- rate is computed over the real elapsed time). Counts 201 / 409 / other statuses.

local thread_count = 0
local threads = {}

function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

function init(args)
  local path = args[1]
  local nthreads = tonumber(args[2] or "1")
  created, conflict, other, exhausted = 0, 0, 0, 0
  other_codes = ""
  codes = {}
  items = {}
  local n = 0
  for line in io.lines(path) do
    if n % nthreads == tid then
      local tab = line:find("\t", 1, true)
      items[#items + 1] = { line:sub(1, tab - 1), line:sub(tab + 1) }
    end
    n = n + 1
  end
  idx = 0
end

function request()
  idx = idx + 1
  local item = items[idx]
  if item == nil then
    exhausted = 1
    wrk.thread:stop()
    return wrk.format("GET", "/health")
  end
  return wrk.format("POST", "/api/v1/bookings", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. item[1],
  }, item[2])
end

function response(status, headers, body)
  if status == 201 then
    created = created + 1
  elseif status == 409 then
    conflict = conflict + 1
  else
    other = other + 1
    codes[status] = (codes[status] or 0) + 1
    local s = ""
    for k, v in pairs(codes) do s = s .. k .. "=" .. v .. " " end
    other_codes = s
  end
end

function done(summary, latency, requests)
  local c, k, o, ex = 0, 0, 0, 0
  local oc = ""
  for _, t in ipairs(threads) do
    c = c + t:get("created")
    k = k + t:get("conflict")
    o = o + t:get("other")
    ex = ex + t:get("exhausted")
    oc = oc .. t:get("other_codes")
  end
  local secs = summary.duration / 1e6
  io.write(string.format("BOOKINGS created_201=%d conflict_409=%d other=%d [%s] exhausted_threads=%d\n",
    c, k, o, oc, ex))
  io.write(string.format("BOOKINGS elapsed_s=%.2f bookings_per_s=%.1f requests_per_s=%.1f\n",
    secs, c / secs, summary.requests / secs))
  io.write(string.format("BOOKINGS latency_ms p50=%.2f p90=%.2f p99=%.2f max=%.2f mean=%.2f\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, latency.mean / 1000))
  io.write(string.format("BOOKINGS socket_errors connect=%d read=%d write=%d timeout=%d status_non2xx=%d\n",
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout,
    summary.errors.status))
end
