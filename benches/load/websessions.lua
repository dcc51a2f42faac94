-- wrk script for websessions.sh: every request carries `Cookie: <line>`, cycling through the
-- lines of the file named by $SESSIONS_FILE (each `PA.<audience>=<value>`: one user's session;
-- requests are built once in init, so each one costs wrk a table lookup). Every response is
-- looked at: those that are not 200 (e.g. the gateway's 302 to the provider when a session is
-- refused) and those that set a cookie (a re-issued session) are counted. Reports like
-- report.lua, plus one line `CHECK non200=<n> set_cookie=<n>`.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")
local report = done

local threads = {}
local requests, count, next_one = {}, 0, 0
-- Globals of each thread's Lua state, read back by done() through thread:get().
non200, set_cookie = 0, 0

setup = function(thread)
  table.insert(threads, thread)
end

init = function(args)
  local path = os.getenv("SESSIONS_FILE") or error("SESSIONS_FILE is not set")
  for line in io.lines(path) do
    if line ~= "" then
      count = count + 1
      requests[count] = wrk.format(nil, nil, { ["Cookie"] = line })
    end
  end
  if count == 0 then error("no sessions in " .. path) end
end

request = function()
  next_one = next_one % count + 1
  return requests[next_one]
end

response = function(status, headers, body)
  if status ~= 200 then non200 = non200 + 1 end
  if headers["set-cookie"] or headers["Set-Cookie"] then set_cookie = set_cookie + 1 end
end

done = function(summary, latency, reqs)
  local bad, cookies = 0, 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non200")
    cookies = cookies + thread:get("set_cookie")
  end
  io.write(string.format("CHECK non200=%d set_cookie=%d\n", bad, cookies))
  report(summary, latency, reqs)
end
