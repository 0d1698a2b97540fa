-- wrk script: SendGrid batches of 100 events (about 30 KB, as SendGrid's
-- own events are about 300 bytes), each request signed with
-- ECDSA P-256 over timestamp || body, through libcrypto (LuaJIT FFI); or,
-- with MT_SIGN=hmac, with HMAC-SHA256 and the key MT_HMAC_KEY (for the Lua
-- peer, bench/peers/peer.lua).  Every event is new (its sg_event_id has
-- the run's random id and a counter), so nothing is dropped as a
-- duplicate: each request is the full verify+parse+queue path.

local ffi = require("ffi")

ffi.cdef[[
typedef struct bio_st BIO;
typedef struct evp_pkey_st EVP_PKEY;
typedef struct evp_md_st EVP_MD;
typedef struct evp_md_ctx_st EVP_MD_CTX;
BIO *BIO_new_mem_buf(const void *buf, int len);
void BIO_free(BIO *b);
EVP_PKEY *PEM_read_bio_PrivateKey(BIO *bp, EVP_PKEY **x, void *cb, void *u);
const EVP_MD *EVP_sha256(void);
EVP_MD_CTX *EVP_MD_CTX_new(void);
void EVP_MD_CTX_free(EVP_MD_CTX *ctx);
int EVP_DigestSignInit(EVP_MD_CTX *ctx, void *pctx, const EVP_MD *type,
                       void *e, EVP_PKEY *pkey);
int EVP_DigestSign(EVP_MD_CTX *ctx, unsigned char *sigret, size_t *siglen,
                   const unsigned char *tbs, size_t tbslen);
int EVP_EncodeBlock(unsigned char *t, const unsigned char *f, int n);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n, unsigned char *md,
                    unsigned int *md_len);
]]

local crypto = ffi.load("crypto")

local common = dofile(os.getenv("MT_BENCH") .. "/common.lua")
local hmac_key = os.getenv("MT_SIGN") == "hmac" and os.getenv("MT_HMAC_KEY")
local pkey

if not hmac_key then
    local f = assert(io.open(os.getenv("MT_SENDGRID_KEY"), "rb"))
    local pem = f:read("*a")
    f:close()

    local bio = crypto.BIO_new_mem_buf(pem, #pem)
    pkey = crypto.PEM_read_bio_PrivateKey(bio, nil, nil, nil)
    crypto.BIO_free(bio)
    assert(pkey ~= nil, "cannot read the private key")
end

local ctx = crypto.EVP_MD_CTX_new()
local sig = ffi.new("unsigned char[128]")
local siglen = ffi.new("size_t[1]")
local maclen = ffi.new("unsigned int[1]")
local b64 = ffi.new("unsigned char[256]")

local seq = 0
local thread_id = common.run_id
local path_uri = os.getenv("MT_PATH") or "/hooks/sendgrid"
local per = tonumber(os.getenv("MT_EVENTS") or "100")

local kinds = { "delivered", "open", "click", "processed", "bounce" }

local function event(n, ts)
    local kind = kinds[(n % #kinds) + 1]
    local extra = ""
    if kind == "click" then
        extra = ',"url":"https://example.com/landing?c=' .. n .. '"'
    elseif kind == "bounce" then
        extra = ',"reason":"550 5.1.1 The email account that you tried to reach does not exist","status":"5.1.1","type":"bounce"'
    elseif kind == "open" then
        extra = ',"useragent":"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0)","ip":"203.0.113.7","sg_machine_open":false'
    else
        extra = ',"response":"250 2.0.0 OK 1700000000 - gsmtp"'
    end
    return string.format(
        '{"email":"user%d@example.com","timestamp":%d,"smtp-id":"<%d.%d@ismtpd-1>",' ..
        '"event":"%s","category":["newsletter","weekly"],"sg_event_id":"ev%d-%d",' ..
        '"sg_message_id":"m%d-%d.filter0001.16648.5515E0B88.0","mail_track_id":"app-%d-%d"%s}',
        n, ts, thread_id, n, kind, thread_id, n, thread_id, n, thread_id, n,
        extra)
end

request = function()
    local ts = os.time()
    local parts = {}
    for i = 1, per do
        seq = seq + 1
        parts[i] = event(seq, ts)
    end
    local body = "[" .. table.concat(parts, ",\r\n") .. "\r\n]\r\n"
    if seq == per then
        io.stderr:write(string.format("sendgrid: %d events, %d bytes a batch\n",
                                      per, #body))
    end
    local tsstr = tostring(ts)
    local msg = tsstr .. body

    if hmac_key then
        crypto.HMAC(crypto.EVP_sha256(), hmac_key, #hmac_key, msg, #msg, sig,
                    maclen)
        siglen[0] = maclen[0]
    else
        assert(crypto.EVP_DigestSignInit(ctx, nil, crypto.EVP_sha256(), nil,
                                         pkey) == 1)
        siglen[0] = 128
        assert(crypto.EVP_DigestSign(ctx, sig, siglen, msg, #msg) == 1)
    end
    local n = crypto.EVP_EncodeBlock(b64, sig, tonumber(siglen[0]))

    return wrk.format("POST", path_uri, {
        ["Content-Type"] = "application/json",
        ["X-Twilio-Email-Event-Webhook-Timestamp"] = tsstr,
        ["X-Twilio-Email-Event-Webhook-Signature"] = ffi.string(b64, n),
    }, body)
end

response = function(status, headers, body)
    common.answered("sendgrid", status, body)
end
