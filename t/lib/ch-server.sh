#!/bin/sh
# Throw-away ClickHouse servers from Debian's package, for the tests and
# the bench: N servers (default 2), each with its own data directory
# under DIR/N and free HTTP, HTTPS, TCP and interserver ports on
# 127.0.0.1, all named as the shards of one cluster "mt_test"; as root
# they run as "nobody".  Users: "default" (password "mt-secret") and
# "reader" (password "mt-secret", read-only).  HTTPS with a certificate
# for 127.0.0.1 from a CA made here, DIR/ca.crt; DIR/N/https_port.
#
#   t/lib/ch-server.sh start DIR [N]   prints the HTTP ports, one a line
#   t/lib/ch-server.sh stop DIR

set -eu

bin=${CH_BIN:-/usr/bin/clickhouse-server}
[ -x "$bin" ] || bin=/usr/sbin/clickhouse-server

if [ ! -x "$bin" ]; then
    echo "ch-server.sh: no clickhouse-server (scripts/deps.sh test installs it)" >&2
    exit 1
fi

as() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u nobody -- "$@"
    else
        "$@"
    fi
}

cmd=${1:-}
dir=${2:-}

[ -n "$dir" ] || { echo "usage: $0 start|stop DIR [N]" >&2; exit 2; }

# the data goes with the directory: no clean shutdown to wait for (18.16
# takes many seconds over it)
stop() {
    for pidfile in "$dir"/*/pid; do
        [ -f "$pidfile" ] || continue
        pid=$(cat "$pidfile" 2>/dev/null || true)
        [ -n "$pid" ] || continue
        kill -9 "$pid" 2>/dev/null || true
        i=0
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        rm -f "$pidfile"
    done
}

case "$cmd" in
start)
    n=${3:-2}
    mkdir -p "$dir"

    # 4 free ports per server, picked by the kernel while all are held
    # (a race only with another process binding one in the next moments)
    ports=$(perl -MIO::Socket::INET -e '
        my @s = map { IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1:0", ReuseAddr => 0) or die } 1 .. 4 * $ARGV[0];
        print join(" ", map { $_->sockport } @s), "\n"' "$n")

    # a CA, and a certificate for 127.0.0.1 that it signed
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/ca.key" \
        -out "$dir/ca.crt" -days 2 -subj "/CN=mail-track test CA" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout "$dir/server.key" \
        -out "$dir/server.csr" -subj "/CN=127.0.0.1" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\n' > "$dir/server.ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" \
        -CAkey "$dir/ca.key" -CAcreateserial -out "$dir/server.crt" -days 2 \
        -extfile "$dir/server.ext" 2>/dev/null
    if [ "$(id -u)" = 0 ]; then
        chown nobody:nogroup "$dir/server.key" "$dir/server.crt"
    fi

    set -- $ports
    shards=
    i=1
    while [ $i -le "$n" ]; do
        eval "http_$i=\$1 tcp_$i=\$2 inter_$i=\$3 https_$i=\$4"
        eval "tcp=\$tcp_$i"
        shards="$shards<shard><replica><host>127.0.0.1</host><port>$tcp</port><user>default</user><password>mt-secret</password></replica></shard>"
        shift 4
        i=$((i + 1))
    done

    i=1
    while [ $i -le "$n" ]; do
        d=$dir/$i
        eval "http=\$http_$i tcp=\$tcp_$i inter=\$inter_$i https=\$https_$i"
        mkdir -p "$d/data"
        cat > "$d/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>$d/server.log</log>
        <errorlog>$d/server.err.log</errorlog>
        <size>100M</size>
        <count>1</count>
    </logger>
    <http_port>$http</http_port>
    <https_port>$https</https_port>
    <openSSL>
        <server>
            <certificateFile>$dir/server.crt</certificateFile>
            <privateKeyFile>$dir/server.key</privateKeyFile>
            <verificationMode>none</verificationMode>
            <loadDefaultCAFile>false</loadDefaultCAFile>
            <cacheSessions>true</cacheSessions>
            <disableProtocols>sslv2,sslv3</disableProtocols>
            <preferServerCiphers>true</preferServerCiphers>
        </server>
    </openSSL>
    <tcp_port>$tcp</tcp_port>
    <interserver_http_port>$inter</interserver_http_port>
    <interserver_http_host>127.0.0.1</interserver_http_host>
    <listen_host>127.0.0.1</listen_host>
    <max_connections>200</max_connections>
    <keep_alive_timeout>30</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>67108864</uncompressed_cache_size>
    <mark_cache_size>134217728</mark_cache_size>
    <path>$d/data/</path>
    <tmp_path>$d/data/tmp/</tmp_path>
    <user_files_path>$d/data/user_files/</user_files_path>
    <format_schema_path>$d/data/format_schemas/</format_schema_path>
    <users_config>$d/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <remote_servers>
        <mt_test>$shards</mt_test>
    </remote_servers>
</yandex>
EOF
        cat > "$d/users.xml" <<'EOF'
<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
        </default>
        <readonly>
            <readonly>1</readonly>
        </readonly>
    </profiles>
    <users>
        <default>
            <password>mt-secret</password>
            <networks><ip>127.0.0.1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
        <reader>
            <password>mt-secret</password>
            <networks><ip>127.0.0.1</ip></networks>
            <profile>readonly</profile>
            <quota>default</quota>
        </reader>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF
        if [ "$(id -u)" = 0 ]; then
            chown -R nobody:nogroup "$d"
        fi
        as "$bin" --config-file="$d/config.xml" --pid-file="$d/pid" --daemon \
            > "$d/out.log" 2>&1 || { cat "$d/out.log" >&2; stop; exit 1; }
        echo "$http" > "$d/port"
        echo "$https" > "$d/https_port"
        i=$((i + 1))
    done

    # up when each answers
    i=1
    while [ $i -le "$n" ]; do
        eval "http=\$http_$i"
        t=0
        until curl -sf "http://127.0.0.1:$http/ping" > /dev/null 2>&1; do
            t=$((t + 1))
            if [ $t -gt 600 ]; then
                echo "ch-server.sh: server $i did not start" >&2
                cat "$dir/$i/server.err.log" "$dir/$i/out.log" >&2 2>/dev/null || true
                stop
                exit 1
            fi
            sleep 0.1
        done
        echo "$http"
        i=$((i + 1))
    done
    ;;
stop)
    stop
    ;;
*)
    echo "usage: $0 start|stop DIR [N]" >&2
    exit 2
    ;;
esac
