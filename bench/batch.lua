-- wrk script: POST /api/v1/batch with BATCH events (default 100) built from
-- bench/event.json, each with its own event_id; prints how many events were
-- not accepted.
local f = assert(io.open("bench/event.json", "r"))
local body = f:read("*a")
f:close()
local template = body:gsub("01937a4e%-8f2b%-7c3d%-9a1e%-2b4c6d8e0f12", "%%s")
local size = tonumber(os.getenv("BATCH") or "100")
local headers = {
  ["Content-Type"] = "application/json",
  ["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
}
local n = 0
local failed = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tag", #threads)
end

function request()
  local events = {}
  for i = 1, size do
    n = n + 1
    events[i] = string.format(template, string.format("01937a4e-8f2b-7c3d-8%03x-%012x", tag or 0, n))
  end
  return wrk.format("POST", "/api/v1/batch", headers, "[" .. table.concat(events, ",") .. "]")
end

-- Counts events not accepted: a whole response other than 200, or a result
-- other than 202 inside one.
function response(status, headers, body)
  if status ~= 200 then
    failed = failed + size
  else
    for _ in string.gmatch(body, '"status":[45]') do
      failed = failed + 1
    end
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do
    total = total + (t:get("failed") or 0)
  end
  io.write(string.format("batch_size=%d failed_events=%d\n", size, total))
end
