-- The peers of make bench: what an OpenResty user would write instead of
-- mail_track, on Debian's libnginx-mod-http-lua and lua-cjson, in the
-- same nginx.  They do less than the module: HMAC-SHA256 where SendGrid
-- signs with ECDSA, a record pushed to a lua_shared_dict list and dropped
-- by a timer where the module writes spool files, no dedupe, no message
-- status, no machine-open classification.
--
-- Token: base64url(purpose "\t" mid "\t" rcpt "\t" expires ["\t" url])
--        "." base64url(HMAC-SHA256(key, the first part))

local ffi = require "ffi"
local cjson = require "cjson.safe"
local b64 = require "ngx.base64"

local C = ffi.C

ffi.cdef[[
typedef struct hmac_ctx_st HMAC_CTX;
typedef struct evp_md_st EVP_MD;
const EVP_MD *EVP_sha256(void);
HMAC_CTX *HMAC_CTX_new(void);
int HMAC_Init_ex(HMAC_CTX *ctx, const void *key, int len, const EVP_MD *md,
                 void *impl);
int HMAC_Update(HMAC_CTX *ctx, const unsigned char *data, size_t len);
int HMAC_Final(HMAC_CTX *ctx, unsigned char *md, unsigned int *len);
]]

local _M = {}

local md = ffi.new("unsigned char[32]")
local mdlen = ffi.new("unsigned int[1]")
local token_ctx, hook_ctx
local queue = ngx.shared.peer_queue

local gif = ngx.decode_base64(
    "R0lGODlhAQABAIABAAAAAP///yH5BAEAAAEALAAAAAABAAEAAAICTAEAOw==")
local nocache = "no-store, no-cache, must-revalidate, max-age=0"


local function hmac_new(key)
    local ctx = C.HMAC_CTX_new()
    assert(C.HMAC_Init_ex(ctx, key, #key, C.EVP_sha256(), nil) == 1)
    return ctx
end


-- the key schedule is kept in ctx: each call only resets it
local function hmac(ctx, a, b)
    C.HMAC_Init_ex(ctx, nil, 0, nil, nil)
    C.HMAC_Update(ctx, a, #a)
    if b then
        C.HMAC_Update(ctx, b, #b)
    end
    C.HMAC_Final(ctx, md, mdlen)
    return ffi.string(md, 32)
end


function _M.init(token_key, hook_key)
    token_ctx = hmac_new(token_key)
    hook_ctx = hmac_new(hook_key)
end


-- the shipper's stand-in: what was queued is dropped, in C
function _M.init_worker()
    ngx.timer.every(0.1, function()
        queue:flush_all()
        queue:flush_expired()
    end)
end


local function verify(purpose)
    local tok = ngx.var.uri:match("([^/]+)$")
    if not tok then
        return nil
    end
    tok = tok:gsub("%.gif$", "")

    local p, s = tok:match("^([^.]+)%.([^.]+)$")
    if not p or b64.decode_base64url(s) ~= hmac(token_ctx, p) then
        return nil
    end

    local f, mid, rcpt, exp, url =
        b64.decode_base64url(p):match("^(%a)\t([^\t]+)\t([^\t]*)\t(%d+)\t?(.*)$")
    if f ~= purpose or (exp ~= "0" and tonumber(exp) <= ngx.time()) then
        return nil
    end

    return mid, rcpt, url
end


local function push(rec)
    local ok, err = queue:rpush("q", cjson.encode(rec))
    if not ok then
        ngx.log(ngx.ERR, "peer queue: ", err)
    end
end


local function track(type, mid, rcpt, url)
    push({ type = type, src = "track", mid = mid, rcpt = rcpt, url = url,
           ip = ngx.var.remote_addr, ua = ngx.var.http_user_agent,
           rt = ngx.now() })
end


function _M.open()
    local mid, rcpt = verify("o")
    if mid then
        track("opened", mid, rcpt)
    end
    ngx.header["Content-Type"] = "image/gif"
    ngx.header["Cache-Control"] = nocache
    ngx.header["Expires"] = "Thu, 01 Jan 1970 00:00:01 GMT"
    ngx.print(gif)
end


function _M.click()
    local mid, rcpt, url = verify("c")
    if not mid or not url:match("^https?://[^/?#]") then
        return ngx.exit(400)
    end
    track("clicked", mid, rcpt, url)
    ngx.header["Cache-Control"] = nocache
    return ngx.redirect(url, 302)
end


-- SendGrid's event webhook, signed with HMAC-SHA256 over timestamp || body
function _M.sendgrid()
    ngx.req.read_body()
    local body = ngx.req.get_body_data()
    if not body then
        return ngx.exit(413)
    end

    local h = ngx.req.get_headers()
    local ts = h["x-twilio-email-event-webhook-timestamp"]
    local sig = h["x-twilio-email-event-webhook-signature"]
    if type(ts) ~= "string" or type(sig) ~= "string"
       or ngx.decode_base64(sig) ~= hmac(hook_ctx, ts, body)
    then
        return ngx.exit(401)
    end

    local events = cjson.decode(body)
    if type(events) ~= "table" then
        return ngx.exit(400)
    end

    local rt = ngx.now()
    for i = 1, #events do
        local e = events[i]
        push({ id = e.sg_event_id, ts = e.timestamp, rt = rt,
               src = "sendgrid", type = e.event,
               mid = e.mail_track_id or e.sg_message_id, rcpt = e.email,
               url = e.url, reason = e.reason, ip = e.ip,
               ua = e.useragent })
    end
end


return _M
