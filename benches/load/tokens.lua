-- wrk script for tokens.sh: every request carries `Authorization: Bearer <token>`, cycling
-- through the tokens of the file named by $TOKENS_FILE (one a line; requests are built once in
-- init, so each one costs wrk a table lookup). Reports like report.lua.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")

local requests, count, next_one = {}, 0, 0

init = function(args)
  local path = os.getenv("TOKENS_FILE") or error("TOKENS_FILE is not set")
  for token in io.lines(path) do
    if token ~= "" then
      count = count + 1
      requests[count] = wrk.format(nil, nil, { ["Authorization"] = "Bearer " .. token })
    end
  end
  if count == 0 then error("no tokens in " .. path) end
end

request = function()
  next_one = next_one % count + 1
  return requests[next_one]
end
