-- wrk script for make soak: pixels with freshly minted tokens, signed
-- SendGrid batches and Mailgun events, queued and durable, every event
-- new.  Each request carries ?sid=ID; nginx echoes it (X-Soak-Sid) with
-- $mail_track_result (X-Soak-Result).  Every thread writes what it sent
-- and what came back to SOAK_OUT/load-<thread>.log:
--
--   S <sid>                       a request was generated (and sent)
--   R <sid> <status> <result>     a response arrived
--
-- The event ids follow from the sid (t/soak/soak.pl checks the spool):
--   o-<sid>            a pixel; the record's mid
--   s-<sid>-<i>        SendGrid event i (mail_track_id), S- when durable
--   m-<sid>            a Mailgun event, M- when durable
--
-- Environment: SOAK_OUT, SOAK_KEYS (the token key file), SOAK_SG_KEY
-- (SendGrid's private key, PEM), SOAK_MG_KEY (Mailgun's signing key),
-- SOAK_DELAY (ms between a connection's requests), SOAK_RUN (a run id).

local ffi = require("ffi")

ffi.cdef[[
typedef struct bio_st BIO;
typedef struct evp_pkey_st EVP_PKEY;
typedef struct evp_md_st EVP_MD;
typedef struct evp_md_ctx_st EVP_MD_CTX;
typedef struct evp_cipher_st EVP_CIPHER;
typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;
BIO *BIO_new_mem_buf(const void *buf, int len);
void BIO_free(BIO *b);
EVP_PKEY *PEM_read_bio_PrivateKey(BIO *bp, EVP_PKEY **x, void *cb, void *u);
const EVP_MD *EVP_sha256(void);
EVP_MD_CTX *EVP_MD_CTX_new(void);
int EVP_DigestSignInit(EVP_MD_CTX *ctx, void *pctx, const EVP_MD *type,
                       void *e, EVP_PKEY *pkey);
int EVP_DigestSign(EVP_MD_CTX *ctx, unsigned char *sigret, size_t *siglen,
                   const unsigned char *tbs, size_t tbslen);
int EVP_EncodeBlock(unsigned char *t, const unsigned char *f, int n);
int EVP_DecodeBlock(unsigned char *t, const unsigned char *f, int n);
const EVP_CIPHER *EVP_aes_256_gcm(void);
EVP_CIPHER_CTX *EVP_CIPHER_CTX_new(void);
int EVP_EncryptInit_ex(EVP_CIPHER_CTX *ctx, const EVP_CIPHER *type,
                       void *impl, const unsigned char *key,
                       const unsigned char *iv);
int EVP_EncryptUpdate(EVP_CIPHER_CTX *ctx, unsigned char *out, int *outl,
                      const unsigned char *in, int inl);
int EVP_EncryptFinal_ex(EVP_CIPHER_CTX *ctx, unsigned char *out, int *outl);
int EVP_CIPHER_CTX_ctrl(EVP_CIPHER_CTX *ctx, int type, int arg, void *ptr);
int RAND_bytes(unsigned char *buf, int num);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n, unsigned char *md,
                    unsigned int *md_len);
]]

local crypto = ffi.load("crypto")

local EVP_CTRL_GCM_GET_TAG = 0x10

local function slurp(path)
    local f = assert(io.open(path, "rb"))
    local s = f:read("*a")
    f:close()
    return s
end

local function b64(buf, n)
    local out = ffi.new("unsigned char[?]", 4 * math.ceil(n / 3) + 1)
    local len = crypto.EVP_EncodeBlock(out, buf, n)
    return ffi.string(out, len)
end

local function b64url(buf, n)
    return (b64(buf, n):gsub("+", "-"):gsub("/", "_"):gsub("=", ""))
end

-- the last key of the key file: "KID BASE64"
local kid, key
for line in slurp(os.getenv("SOAK_KEYS")):gmatch("[^\n]+") do
    local k, v = line:match("^(%d+)%s+(%S+)")
    if k then
        kid, key = tonumber(k), v
    end
end
assert(kid, "no key in SOAK_KEYS")
do
    local raw = ffi.new("unsigned char[48]")
    assert(crypto.EVP_DecodeBlock(raw, key, #key) >= 32)
    key = raw
end

local sg_pem = slurp(os.getenv("SOAK_SG_KEY"))
local bio = crypto.BIO_new_mem_buf(sg_pem, #sg_pem)
local sg_pkey = crypto.PEM_read_bio_PrivateKey(bio, nil, nil, nil)
crypto.BIO_free(bio)
assert(sg_pkey ~= nil, "cannot read the SendGrid key")

local mg_key = os.getenv("SOAK_MG_KEY")
local delay_ms = tonumber(os.getenv("SOAK_DELAY") or "10")
local run = os.getenv("SOAK_RUN") or "r"

local cctx = crypto.EVP_CIPHER_CTX_new()
local mctx = crypto.EVP_MD_CTX_new()
local tok = ffi.new("unsigned char[512]")
local outl = ffi.new("int[1]")
local sig = ffi.new("unsigned char[128]")
local siglen = ffi.new("size_t[1]")
local md = ffi.new("unsigned char[64]")
local mdlen = ffi.new("unsigned int[1]")

local function mpstr(s)
    assert(#s < 32)
    return string.char(0xa0 + #s) .. s
end

-- an open token: 0x01 kid nonce(12) AES-256-GCM(msgpack {m, r}) tag(16)
local function open_token(mid, rcpt)
    local plain = string.char(0x82) .. mpstr("m") .. mpstr(mid)
                  .. mpstr("r") .. mpstr(rcpt)
    local aad = string.char(1, kid, string.byte("o"))
    tok[0] = 1
    tok[1] = kid
    assert(crypto.RAND_bytes(tok + 2, 12) == 1)
    assert(crypto.EVP_EncryptInit_ex(cctx, crypto.EVP_aes_256_gcm(), nil,
                                     key, tok + 2) == 1)
    assert(crypto.EVP_EncryptUpdate(cctx, nil, outl, aad, #aad) == 1)
    assert(crypto.EVP_EncryptUpdate(cctx, tok + 14, outl, plain,
                                    #plain) == 1)
    local n = 14 + outl[0]
    assert(crypto.EVP_EncryptFinal_ex(cctx, tok + n, outl) == 1)
    n = n + outl[0]
    assert(crypto.EVP_CIPHER_CTX_ctrl(cctx, EVP_CTRL_GCM_GET_TAG, 16,
                                      tok + n) == 1)
    return b64url(tok, n + 16)
end

local function hex(buf, n)
    return (ffi.string(buf, n):gsub(".", function(c)
        return string.format("%02x", c:byte())
    end))
end

-- setup() runs in wrk's main Lua state; each thread's state gets its
-- number as the global soak_thread
local nthreads = 0

function setup(thread)
    nthreads = nthreads + 1
    thread:set("soak_thread", nthreads)
end

local log
local seq = 0
local sg_events = 5

function init(args)
    local tn = soak_thread
    log = assert(io.open(os.getenv("SOAK_OUT") .. "/load-" .. tn .. ".log",
                         "w"))
    log:setvbuf("line")
    math.randomseed(os.time() * 100 + tn)
end

function delay()
    return delay_ms
end

local function sendgrid(sid, durable)
    local ts = os.time()
    local p = durable and "S-" or "s-"
    local parts = {}
    for i = 1, sg_events do
        parts[i] = string.format(
            '{"email":"u%d@example.com","timestamp":%d,' ..
            '"event":"delivered","sg_event_id":"%s%s-%d",' ..
            '"sg_message_id":"sg-%s-%d.filter0001",' ..
            '"mail_track_id":"%s%s-%d",' ..
            '"response":"250 2.0.0 OK"}',
            i, ts, p, sid, i, sid, i, p, sid, i)
    end
    local body = "[" .. table.concat(parts, ",") .. "]"
    local tsstr = tostring(ts)
    local msg = tsstr .. body
    assert(crypto.EVP_DigestSignInit(mctx, nil, crypto.EVP_sha256(), nil,
                                     sg_pkey) == 1)
    siglen[0] = 128
    assert(crypto.EVP_DigestSign(mctx, sig, siglen, msg, #msg) == 1)
    return wrk.format("POST", (durable and "/hooks/sendgrid-durable"
                                       or "/hooks/sendgrid")
                              .. "?sid=" .. p .. sid, {
        ["Content-Type"] = "application/json",
        ["X-Twilio-Email-Event-Webhook-Timestamp"] = tsstr,
        ["X-Twilio-Email-Event-Webhook-Signature"] =
            b64(sig, tonumber(siglen[0])),
    }, body), p .. sid
end

local function mailgun(sid, durable)
    local p = durable and "M-" or "m-"
    local ts = tostring(os.time())
    local token = string.format("%s%s%032x", run, sid, seq):gsub("%W", "")
    local m = ts .. token
    crypto.HMAC(crypto.EVP_sha256(), mg_key, #mg_key, m, #m, md, mdlen)
    local body = string.format(
        '{"signature":{"token":"%s","timestamp":"%s","signature":"%s"},' ..
        '"event-data":{"event":"delivered","id":"%s%s",' ..
        '"timestamp":%s.5,"recipient":"u@example.com",' ..
        '"message":{"headers":{"message-id":"%s@example.org"}},' ..
        '"delivery-status":{"code":250,"message":"OK"},' ..
        '"user-variables":{"mail_track_id":"%s%s"}}}',
        token, ts, hex(md, mdlen[0]), p, sid, ts, sid, p, sid)
    return wrk.format("POST", (durable and "/hooks/mailgun-durable"
                                       or "/hooks/mailgun")
                              .. "?sid=" .. p .. sid,
                      { ["Content-Type"] = "application/json" }, body),
           p .. sid
end

function request()
    seq = seq + 1
    local sid = string.format("%s%d.%d", run, soak_thread, seq)
    local r = math.random(100)
    local req, id
    if r <= 60 then
        id = "o-" .. sid
        req = wrk.format("GET", "/o/" .. open_token(id, "u@example.com")
                                .. ".gif?sid=" .. id,
                         { ["User-Agent"] = "Mozilla/5.0 soak" })
    elseif r <= 72 then
        req, id = sendgrid(sid, false)
    elseif r <= 80 then
        req, id = sendgrid(sid, true)
    elseif r <= 92 then
        req, id = mailgun(sid, false)
    else
        req, id = mailgun(sid, true)
    end
    log:write("S ", id, "\n")
    return req
end

function response(status, headers, body)
    local sid = headers["X-Soak-Sid"] or headers["x-soak-sid"] or "-"
    local res = headers["X-Soak-Result"] or headers["x-soak-result"] or "-"
    log:write("R ", sid, " ", status, " ", res, "\n")
end
