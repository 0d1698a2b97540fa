# bench/lib.sh: what bench/run.sh and bench/callgrind.sh share: the keys,
# the tokens and the nginx configuration (the module, its baselines and
# the Lua peers of bench/peers/ in one nginx).  Sourced; needs $top, $root.

nginx=${NGINX_BIN:-/usr/sbin/nginx}
tool=$top/build/mail-track
module=$top/build/ngx_http_mail_track_module.so
lua_modules=${LUA_MODULES:-/usr/lib/nginx/modules}

export MT_BENCH=$top/bench

ua="Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"


b64url() {
    base64 -w0 | tr '+/' '-_' | tr -d '='
}


# the keys of every party, and the tokens of the module and of the peer
bench_keys() {
    "$tool" keygen "$root/keys.txt" > /dev/null

    # sealed spool files (seal=): the edge gets the public key
    "$tool" keygen --seal "$root/seal.key" "$root/seal.pub"

    # SendGrid signs with ECDSA P-256: the module gets the public key
    openssl ecparam -name prime256v1 -genkey -noout -out "$root/sg.ec.pem" \
        2>/dev/null
    openssl pkcs8 -topk8 -nocrypt -in "$root/sg.ec.pem" \
        -out "$root/sg.key.pem"
    sg_pub=$(openssl ec -in "$root/sg.ec.pem" -pubout -outform DER \
             2>/dev/null | base64 -w0)

    mg_key=key-bench-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
    ms_key=ms-bench-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
    peer_key=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
    peer_hook_key=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')

    pixel=$("$tool" token open --keys "$root/keys.txt" --mid bench-1 \
            --rcpt someone@example.com --tag bench --raw)
    click=$("$tool" token click --keys "$root/keys.txt" --mid bench-1 \
            --rcpt someone@example.com \
            --url "https://example.com/landing?utm=x" --raw)

    peer_pixel=$(peer_token o bench-1 someone@example.com 0)
    peer_click=$(peer_token c bench-1 someone@example.com 0 \
                 "https://example.com/landing?utm=x")
}


# bench/peers/peer.lua's token: the fields joined by tabs, base64url,
# "." and its HMAC-SHA256
peer_token() {
    local p
    p=$(IFS=$'\t'; printf '%s' "$*" | b64url)
    printf '%s.%s' "$p" \
        "$(printf '%s' "$p" | openssl dgst -sha256 -hmac "$peer_key" -binary \
           | b64url)"
}


# bench_conf DIR PORT FSYNC ZONE_SIZE [MAIN_DIRECTIVES] [SPOOL_PARAMETERS]
bench_conf() {
    local dir=$1 port=$2 fsync=$3 zone=$4 main=${5:-} spool=${6:-}

    mkdir -p "$dir/conf" "$dir/logs" "$dir/spool" "$dir/temp"

    # the generic provider's profiles, as the package installs them
    cp -r "$top/conf/mail-track" "$dir/conf/"

    cat > "$dir/conf/nginx.conf" <<EOC
load_module $lua_modules/ndk_http_module.so;
load_module $lua_modules/ngx_http_lua_module.so;
load_module $module;
$main
worker_processes 1;
error_log logs/error.log warn;
pid logs/nginx.pid;
$( [ "$(id -u)" = 0 ] && echo "user root root;" )
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path temp/body;
    proxy_temp_path temp/proxy;
    fastcgi_temp_path temp/fastcgi;
    uwsgi_temp_path temp/uwsgi;
    scgi_temp_path temp/scgi;
    client_body_buffer_size 64k;
    keepalive_requests 1000000;

    mail_track_zone zone=mt:$zone;
    mail_track_spool $dir/spool flush=1s max_size=64m max_age=5s fsync=$fsync $spool;
    mail_track_keys $root/keys.txt;

    # the classic way of counting opens: a pixel and a log line
    log_format pixel '\$request_uri \$remote_addr "\$http_user_agent" \$msec';

    lua_package_path "$top/bench/peers/?.lua;;";
    lua_shared_dict peer_queue 64m;
    init_by_lua_block {
        require("peer").init("$peer_key", "$peer_hook_key")
    }
    init_worker_by_lua_block { require("peer").init_worker() }

    server {
        listen 127.0.0.1:$port backlog=4096;

        location /o/ { mail_track_open; }
        location /c/ { mail_track_click; }
        location /status/ { mail_track_status; }

        location = /gif { empty_gif; }
        location = /r { return 302 https://example.com/landing?utm=x; }
        location = /px.gif {
            empty_gif;
            access_log logs/pixel.log pixel buffer=64k flush=1s;
        }

        location /lua/o/ { content_by_lua_block { require("peer").open() } }
        location /lua/c/ { content_by_lua_block { require("peer").click() } }
        location = /lua/hooks/sendgrid {
            content_by_lua_block { require("peer").sendgrid() }
        }

        location = /hooks/sendgrid {
            mail_track_webhook sendgrid;
            mail_track_webhook_key $sg_pub;
        }
        location = /hooks/sendgrid-durable {
            mail_track_webhook sendgrid;
            mail_track_webhook_key $sg_pub;
            mail_track_webhook_ack durable;
        }
        location = /hooks/mailgun {
            mail_track_webhook mailgun;
            mail_track_webhook_key $mg_key;
        }
        location = /hooks/mailersend {
            include mail-track/mailersend.conf;
            mail_track_webhook_key $ms_key;
        }
    }
}
EOC
}


# the path of each measure; its wrk script and environment are in bench_env
declare -A bench_path=(
    [empty_gif]=/gif
    [log_gif]="/px.gif?m=bench-1&r=someone%40example.com&t=bench"
    [pixel]=/o/PIXEL.gif
    [lua_pixel]=/lua/o/PEER_PIXEL.gif
    [return302]=/r
    [click]=/c/CLICK
    [lua_click]=/lua/c/PEER_CLICK
    [status]=/status/
    [sendgrid]=/hooks/sendgrid
    [sendgrid_durable]=/hooks/sendgrid-durable
    [lua_sendgrid]=/lua/hooks/sendgrid
    [mailgun]=/hooks/mailgun
    [mailersend]=/hooks/mailersend
)


# bench_url KEY BASE -> the URL; bench_script KEY -> the wrk script
bench_url() {
    local p=${bench_path[$1]}
    p=${p/PEER_PIXEL/$peer_pixel}
    p=${p/PEER_CLICK/$peer_click}
    p=${p/PIXEL/$pixel}
    p=${p/CLICK/$click}
    echo "$2$p"
}


bench_script() {
    case $1 in
        sendgrid|sendgrid_durable|lua_sendgrid) echo "$top/bench/sendgrid.lua" ;;
        mailgun) echo "$top/bench/mailgun.lua" ;;
        mailersend) echo "$top/bench/mailersend.lua" ;;
        status) echo "$top/bench/status.lua" ;;
        *) echo "$top/bench/get.lua" ;;
    esac
}


# the environment of a measure's wrk script, as "VAR=value" words
bench_env() {
    case $1 in
        sendgrid|sendgrid_durable)
            echo "MT_SENDGRID_KEY=$root/sg.key.pem MT_PATH=${bench_path[$1]}" ;;
        lua_sendgrid)
            echo "MT_SIGN=hmac MT_HMAC_KEY=$peer_hook_key MT_PATH=${bench_path[$1]}" ;;
        mailgun)
            echo "MT_MAILGUN_KEY=$mg_key MT_PATH=${bench_path[$1]}" ;;
        mailersend)
            echo "MT_MAILERSEND_KEY=$ms_key MT_PATH=${bench_path[$1]}" ;;
    esac
}
