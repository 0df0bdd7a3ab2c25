-- wrk script: post.lua, but every request also carries a user agent the
-- server has not seen, so every parse misses the cache.
dofile("bench/post.lua")

function request()
  local id = event_id()
  local ua = string.format(
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.%d.%d.0 Safari/537.36",
    tag or 0, n)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json", ["User-Agent"] = ua},
    string.format(template, id))
end
