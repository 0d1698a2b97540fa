-- wrk script: a MailerSend-style generic profile (include
-- mail-track/mailersend.conf): one activity per request, its id new each
-- time, signed with hex HMAC-SHA256 over the raw body (libcrypto through
-- LuaJIT FFI), as MailerSend signs.

local ffi = require("ffi")

ffi.cdef[[
typedef struct evp_md_st EVP_MD;
const EVP_MD *EVP_sha256(void);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n, unsigned char *md,
                    unsigned int *md_len);
]]

local crypto = ffi.load("crypto")

local key = os.getenv("MT_MAILERSEND_KEY") or "ms-bench-secret"
local path_uri = os.getenv("MT_PATH") or "/hooks/mailersend"
local md = ffi.new("unsigned char[64]")
local mdlen = ffi.new("unsigned int[1]")
local seq = 0
local common = dofile(os.getenv("MT_BENCH") .. "/common.lua")
local thread_id = common.run_id

local function hex(buf, n)
    local t = {}
    for i = 0, n - 1 do
        t[#t + 1] = string.format("%02x", buf[i])
    end
    return table.concat(t)
end

request = function()
    seq = seq + 1
    local body = string.format(
        '{"type":"activity.delivered","domain_id":"7z3m5jgrogdpyo6n",' ..
        '"created_at":"2026-01-02T10:00:01.000000Z","webhook_id":"2351ndgwr4zq1vke",' ..
        '"url":"https:\\/\\/hooks.example.com\\/ms","data":{"object":"activity",' ..
        '"id":"act-%d-%d","type":"delivered","created_at":"2026-01-02T10:00:00.123000Z",' ..
        '"email":{"object":"email","id":"e-%d","from":"s@example.com",' ..
        '"subject":"Hi","status":"delivered","tags":["weekly"],"message":{"object":"message",' ..
        '"id":"msg-%d-%d","created_at":"2026-01-02T09:59:00.000000Z"},' ..
        '"recipient":{"object":"recipient","id":"r1","email":"user%d@example.com"}},' ..
        '"morph":null}}',
        thread_id, seq, seq, thread_id, seq, seq)
    crypto.HMAC(crypto.EVP_sha256(), key, #key, body, #body, md, mdlen)
    return wrk.format("POST", path_uri,
                      { ["Content-Type"] = "application/json",
                        ["Signature"] = hex(md, mdlen[0]) }, body)
end

response = function(status, headers, body)
    common.answered("mailersend", status, body)
end
