-- wrk script: like post.lua, but every request carries a user agent the
-- server has not seen, so every parse misses the cache.
local f = assert(io.open("bench/event.json", "r"))
local body = f:read("*a")
f:close()
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
  return wrk.format("POST", nil, {["Content-Type"] = "application/json", ["User-Agent"] = ua}, body)
end
