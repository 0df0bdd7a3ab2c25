-- wrk script: POST bench/event.json with a Chrome UA, each request with its
-- own event_id (the server acknowledges a repeated id without producing it).
local f = assert(io.open("bench/event.json", "r"))
local body = f:read("*a")
f:close()
template = body:gsub("01937a4e%-8f2b%-7c3d%-9a1e%-2b4c6d8e0f12", "%%s")
local headers = {
  ["Content-Type"] = "application/json",
  ["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
}
n = 0
local thread_tag = 0

function setup(thread)
  thread_tag = thread_tag + 1
  thread:set("tag", thread_tag)
end

-- A UUIDv7-shaped id unique per thread and request.
function event_id()
  n = n + 1
  return string.format("01937a4e-8f2b-7c3d-8%03x-%012x", tag or 0, n)
end

function request()
  return wrk.format("POST", nil, headers, string.format(template, event_id()))
end
