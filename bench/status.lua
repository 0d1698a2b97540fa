-- wrk script: GET /status/<id> for random message ids among the
-- MT_MESSAGES that bench/run.sh put into the zone (PREFIX1..PREFIXn)

local common = dofile(os.getenv("MT_BENCH") .. "/common.lua")

local n = tonumber(os.getenv("MT_MESSAGES") or "100000")
local prefix = os.getenv("MT_MID_PREFIX") or "st-"
local path = os.getenv("MT_PATH") or "/status/"

request = function()
    return wrk.format("GET", path .. prefix .. math.random(1, n))
end

response = function(status, headers, body)
    common.answered("status", status, body)
end
