-- wrk: what the bench scripts share.
--
-- run_id: a random number per wrk thread (LuaJIT's math.random starts
-- from the same seed in every run, and event ids built from it would be
-- duplicates of the last run's).
--
-- answered(): counts the answers that are not 2xx or 3xx (the first few
-- are printed), and with MT_REQUESTS=N exits after N answers
-- (bench/callgrind.sh sends an exact number over one connection).

local M = {}

local f = assert(io.open("/dev/urandom", "rb"))
local b = f:read(4)
f:close()

M.run_id = ((b:byte(1) * 256 + b:byte(2)) * 256 + b:byte(3)) * 256
           + b:byte(4)

local limit = tonumber(os.getenv("MT_REQUESTS") or "0")
local done, bad = 0, 0

function M.answered(name, status, body)
    if status >= 400 then
        bad = bad + 1
        if bad < 5 then
            io.stderr:write(name .. ": status " .. status .. " "
                            .. (body or "") .. "\n")
        end
    end

    done = done + 1
    if limit > 0 and done >= limit then
        os.exit(0)
    end
end

return M
