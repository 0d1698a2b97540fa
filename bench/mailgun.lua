-- wrk script: Mailgun single events, each with a new token and its
-- HMAC-SHA256 signature (libcrypto through LuaJIT FFI).

local ffi = require("ffi")

ffi.cdef[[
typedef struct evp_md_st EVP_MD;
const EVP_MD *EVP_sha256(void);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n, unsigned char *md,
                    unsigned int *md_len);
]]

local crypto = ffi.load("crypto")

local key = os.getenv("MT_MAILGUN_KEY") or "key-bench"
local path_uri = os.getenv("MT_PATH") or "/hooks/mailgun"
local md = ffi.new("unsigned char[64]")
local mdlen = ffi.new("unsigned int[1]")
local seq = 0
local common = dofile(os.getenv("MT_BENCH") .. "/common.lua")
local thread_id = common.run_id
local prefix = os.getenv("MT_MID_PREFIX") or "app-"

local function hex(buf, n)
    local t = {}
    for i = 0, n - 1 do
        t[#t + 1] = string.format("%02x", buf[i])
    end
    return table.concat(t)
end

request = function()
    seq = seq + 1
    local ts = tostring(os.time())
    local token = string.format("%016x%016x%018x", thread_id, seq, seq * 7919)
    local msg = ts .. token
    crypto.HMAC(crypto.EVP_sha256(), key, #key, msg, #msg, md, mdlen)
    local body = string.format(
        '{"signature":{"token":"%s","timestamp":"%s","signature":"%s"},' ..
        '"event-data":{"event":"delivered","id":"ev-%d-%d","timestamp":%s.123456,' ..
        '"recipient":"user%d@example.com","log-level":"info",' ..
        '"message":{"headers":{"message-id":"%d.%d@example.org","to":"user%d@example.com"}},' ..
        '"delivery-status":{"code":250,"message":"OK","attempt-no":1},' ..
        '"user-variables":{"mail_track_id":"%s%d"},"tags":["weekly"]}}',
        token, ts, hex(md, mdlen[0]), thread_id, seq, ts, seq, thread_id, seq, seq,
        prefix, seq)
    return wrk.format("POST", path_uri, { ["Content-Type"] = "application/json" }, body)
end

response = function(status, headers, body)
    common.answered("mailgun", status, body)
end
