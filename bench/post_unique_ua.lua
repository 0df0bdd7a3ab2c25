-- wrk script: like post.lua, but every request also carries a user agent
-- the server has not seen, so every parse misses the cache.
local f = assert(io.open("bench/event.json", "r"))
local body = f:read("*a")
f:close()
local template = body:gsub("01937a4e%-8f2b%-7c3d%-9a1e%-2b4c6d8e0f12", "%%s")
local n = 0
local thread_tag = 0

function setup(thread)
  thread_tag = thread_tag + 1
  thread:set("tag", thread_tag)
end

function request()
  n = n + 1
  local ua = string.format(
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.%d.%d.0 Safari/537.36",
    tag or 0, n)
  local id = string.format("01937a4e-8f2b-7c3d-8%03x-%012x", tag or 0, n)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json", ["User-Agent"] = ua},
    string.format(template, id))
end
