-- wrk script: GET /status/<id> for random message ids among the
-- MT_MESSAGES that bench/run.sh put into the zone with bench/mailgun.lua:
-- PREFIX2 .. PREFIXn+1 (wrk calls request() once to check it before
-- sending anything, so the first id is never sent)

local common = dofile(os.getenv("MT_BENCH") .. "/common.lua")

local n = tonumber(os.getenv("MT_MESSAGES") or "100000")
local prefix = os.getenv("MT_MID_PREFIX") or "st-"
local path = os.getenv("MT_PATH") or "/status/"

request = function()
    return wrk.format("GET", path .. prefix .. math.random(2, n + 1))
end

response = function(status, headers, body)
    common.answered("status", status, body)
end
