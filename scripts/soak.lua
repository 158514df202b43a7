-- wrk script for scripts/soak.sh: replays the planned mix (slot searches, bookings, feed polls)
-- and cancels bookings this thread created, as the client who made them. Counts responses by
-- class; any 5xx is reported.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local nthreads = tonumber(args[2] or "1")
  plan = {}
  local n = 0
  for line in io.lines(args[1]) do
    if n % nthreads == tid then
      local kind, token, path, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
      plan[#plan + 1] = { kind, token, path, body }
    end
    n = n + 1
  end
  tokens = {}
  for line in io.lines(args[1] .. ".clients") do
    local id, token = line:match("^([^\t]*)\t(.*)$")
    tokens[id] = token
  end
  idx = 0
  created = {}
  c2xx, c3xx, c4xx, c5xx, booked, cancelled = 0, 0, 0, 0, 0, 0
end

function request()
  idx = idx % #plan + 1
  local item = plan[idx]
  local kind = item[1]
  if kind == "CANCEL" and #created > 0 then
    local victim = table.remove(created, 1)
    return wrk.format("POST", "/api/v1/bookings/" .. victim[1] .. "/cancel", {
      ["Authorization"] = "Bearer " .. victim[2],
    })
  elseif kind == "BOOK" then
    return wrk.format("POST", item[3], {
      ["Content-Type"] = "application/json",
      ["Authorization"] = "Bearer " .. item[2],
    }, item[4])
  elseif kind == "GET" then
    return wrk.format("GET", item[3])
  end
  return wrk.format("GET", "/health")
end

function response(status, headers, body)
  if status >= 500 then c5xx = c5xx + 1
  elseif status >= 400 then c4xx = c4xx + 1
  elseif status >= 300 then c3xx = c3xx + 1
  else c2xx = c2xx + 1 end
  if status == 201 then
    booked = booked + 1
    local id = body:match('"id":"([^"]+)"')
    local client = body:match('"client_id":"([^"]+)"')
    if id and client and tokens[client] and #created < 1000 then
      created[#created + 1] = { id, tokens[client] }
    end
  elseif status == 200 and body:find('"status":"cancelled"', 1, true) then
    cancelled = cancelled + 1
  end
end

function done(summary, latency, requests)
  local t = { 0, 0, 0, 0, 0, 0 }
  for _, thread in ipairs(threads) do
    t[1] = t[1] + thread:get("c2xx")
    t[2] = t[2] + thread:get("c3xx")
    t[3] = t[3] + thread:get("c4xx")
    t[4] = t[4] + thread:get("c5xx")
    t[5] = t[5] + thread:get("booked")
    t[6] = t[6] + thread:get("cancelled")
  end
  io.write(string.format("soak: 2xx=%d 3xx=%d 4xx=%d 5xx=%d booked=%d cancelled=%d p99=%.1fms\n",
    t[1], t[2], t[3], t[4], t[5], t[6], latency:percentile(99) / 1000))
end
