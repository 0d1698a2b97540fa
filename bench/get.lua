-- wrk script: plain GETs of the URL given, with bench/common.lua's count

local common = dofile(os.getenv("MT_BENCH") .. "/common.lua")

response = function(status, headers, body)
    common.answered("get", status, body)
end
