#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# A real, signature-checking S3 server for tests: OpenStack Swift (Debian's
# python3-swift) with the s3api and tempauth middleware, plus memcached
# (tempauth keeps its state there).  One node, one replica, everything on
# 127.0.0.1 and under DIR.
#
#   scripts/s3-server.sh [start] DIR   configure and start; prints the
#                                      environment to use (also in DIR/env)
#   scripts/s3-server.sh stop DIR      stop what start started (by pid)
#
# Output of start, shell-sourceable (also written to DIR/env):
#   AWS_ENDPOINT_URL=http://127.0.0.1:PORT
#   AWS_ACCESS_KEY_ID=test:tester        (tempauth account:user; the colon is
#                                         part of the S3 access key)
#   AWS_SECRET_ACCESS_KEY=testing
#   AWS_REGION=us-east-1
#   S3_BUCKET=sealsync                   (created empty; S3_BUCKET in the
#                                         environment picks another name)
# Path-style addressing through 127.0.0.1; virtual-host addressing works with
# AWS_ENDPOINT_URL=http://localhost:PORT AWS_S3_ADDRESSING_STYLE=virtual.
#
# Layout of DIR: etc/ (swift.conf, *-server.conf, rings), srv/d1 (the one
# device: a plain directory), log/*.log, run/*.pid.  The servers run from the
# Python package with workers = 0 (no forking) via DIR/etc/run-server.py.
# The object server needs user xattrs on DIR's file system; where they are
# missing (older tmpfs) Swift's in-memory object server is used instead.
# Exits non-zero, with the log tail, if the proxy does not answer in 90 s
# (S3_START_TIMEOUT).
set -eu

PY=/usr/bin/python3 # Debian's python3-swift lives in the system Python
ACCESS_KEY=test:tester
SECRET_KEY=testing
REGION=us-east-1

die()
{
	echo "s3-server.sh: $*" >&2
	exit 1
}

usage()
{
	echo "usage: $0 [start] DIR | $0 stop DIR" >&2
	exit 2
}

stop_servers()
{
	dir=$1
	[ -d "$dir/run" ] || return 0
	for f in "$dir"/run/*.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		case $pid in '' | *[!0-9]*) continue ;; esac
		kill -TERM "$pid" 2>/dev/null || true
	done
	for f in "$dir"/run/*.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		case $pid in '' | *[!0-9]*) continue ;; esac
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -KILL "$pid" 2>/dev/null || true
		rm -f "$f"
	done
}

cmd=start
case ${1:-} in
start | stop)
	cmd=$1
	shift
	;;
esac
[ $# -eq 1 ] || usage
case $1 in
/*) DIR=$1 ;;
*) DIR=$PWD/$1 ;;
esac

if [ "$cmd" = stop ]; then
	stop_servers "$DIR"
	exit 0
fi

$PY -c 'import swift' 2>/dev/null || die "python3-swift is not installed (scripts/deps.sh)"
command -v memcached >/dev/null 2>&1 || die "memcached is not installed (scripts/deps.sh)"
command -v curl >/dev/null 2>&1 || die "curl is not installed"
BUCKET=${S3_BUCKET:-sealsync}

mkdir -p "$DIR/etc" "$DIR/srv/d1" "$DIR/log" "$DIR/run" "$DIR/cache"
[ -z "$(ls "$DIR/run")" ] || die "$DIR/run is not empty: already running? ($0 stop $DIR)"

# Five free ports (the kernel picks them; a race with another process
# grabbing one in between is possible but unlikely).
# shellcheck disable=SC2046 # splitting the five numbers is the point
set -- $($PY -c '
import socket
ss = [socket.socket() for _ in range(5)]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))
')
P_PROXY=$1 P_ACCT=$2 P_CONT=$3 P_OBJ=$4 P_MC=$5

if $PY -c 'import os, sys; open(sys.argv[1], "w").close(); os.setxattr(sys.argv[1], "user.t", b"1")' \
	"$DIR/srv/d1/.xattr-check" 2>/dev/null; then
	OBJ_APP=egg:swift#object
else
	echo "s3-server.sh: no user xattrs on $DIR's file system: in-memory object server" >&2
	OBJ_APP=egg:swift#mem_object
fi
rm -f "$DIR/srv/d1/.xattr-check"

E=$DIR/etc
cat >"$E/swift.conf" <<EOF
[swift-hash]
swift_hash_path_suffix = sealsync-test-suffix
swift_hash_path_prefix = sealsync-test-prefix

[storage-policy:0]
name = gold
default = yes
EOF

# Shared [DEFAULT] of the storage servers.
server_default()
{
	cat <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $1
workers = 0
user = $(id -un)
swift_dir = $E
devices = $DIR/srv
mount_check = false
disable_fallocate = true
fallocate_reserve = 0
log_level = WARNING
log_name = $2
EOF
}

{
	server_default "$P_ACCT" account
	cat <<EOF

[pipeline:main]
pipeline = account-server

[app:account-server]
use = egg:swift#account
EOF
} >"$E/account-server.conf"

{
	server_default "$P_CONT" container
	cat <<EOF

[pipeline:main]
pipeline = container-server

[app:container-server]
use = egg:swift#container
EOF
} >"$E/container-server.conf"

{
	server_default "$P_OBJ" object
	cat <<EOF

[pipeline:main]
pipeline = object-server

[app:object-server]
use = $OBJ_APP
EOF
} >"$E/object-server.conf"

# s3api before tempauth; slo is needed for multipart uploads.
cat >"$E/proxy-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $P_PROXY
workers = 0
user = $(id -un)
swift_dir = $E
log_level = WARNING
log_name = proxy

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:s3api]
use = egg:swift#s3api
location = $REGION
# Virtual-host addressing for http://BUCKET.localhost:PORT (curl resolves
# *.localhost to the loopback address itself).
storage_domain = localhost
s3_acl = false
check_bucket_owner = false

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = $SECRET_KEY .admin

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$P_MC

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
EOF

# Rings: part power 6, one replica, one device per ring.
$PY - "$E" "$P_ACCT" "$P_CONT" "$P_OBJ" <<'EOF' || die "cannot build the rings"
import sys
from swift.common.ring import RingBuilder
etc = sys.argv[1]
for name, port in (("account", sys.argv[2]), ("container", sys.argv[3]), ("object", sys.argv[4])):
    b = RingBuilder(6, 1, 0)
    b.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": int(port),
               "device": "d1", "weight": 100, "meta": ""})
    b.rebalance()
    b.save("%s/%s.builder" % (etc, name))
    b.get_ring().save("%s/%s.ring.gz" % (etc, name))
EOF

cat >"$E/run-server.py" <<'EOF'
# run-server.py CONF SWIFT_DIR SECTION: one Swift WSGI server, as
# swift-SECTION does, with swift.conf read from SWIFT_DIR, not /etc/swift.
import sys
from swift.common.utils import set_swift_dir
set_swift_dir(sys.argv[2])
from swift.common.wsgi import run_wsgi
sys.exit(run_wsgi(sys.argv[1], sys.argv[3], verbose=True))
EOF

memcached -l 127.0.0.1 -p "$P_MC" -U 0 -m 16 -u "$(id -un)" >"$DIR/log/memcached.log" 2>&1 &
echo $! >"$DIR/run/memcached.pid"
for s in account container object proxy; do
	$PY "$E/run-server.py" "$E/$s-server.conf" "$E" "$s-server" >"$DIR/log/$s.log" 2>&1 &
	echo $! >"$DIR/run/$s.pid"
done

ENDPOINT=http://127.0.0.1:$P_PROXY
# Four Python servers start at once: on a loaded machine that takes a while.
deadline=$(($(date +%s) + ${S3_START_TIMEOUT:-90}))
until curl -sf -o /dev/null "$ENDPOINT/healthcheck"; do
	if [ "$(date +%s)" -ge "$deadline" ]; then
		tail -n 20 "$DIR"/log/*.log >&2
		stop_servers "$DIR"
		die "the proxy did not answer on $ENDPOINT within ${S3_START_TIMEOUT:-90} s"
	fi
	for s in memcached account container object proxy; do
		if ! kill -0 "$(cat "$DIR/run/$s.pid")" 2>/dev/null; then
			tail -n 20 "$DIR/log/$s.log" >&2
			stop_servers "$DIR"
			die "the $s server exited"
		fi
	done
	sleep 0.1
done

# The test bucket, through the Swift API (tempauth token; the S3 side of
# this server is for the code under test).
hdrs=$(curl -sf -D - -o /dev/null -H "X-Auth-User: $ACCESS_KEY" -H "X-Auth-Key: $SECRET_KEY" \
	"$ENDPOINT/auth/v1.0") || {
	stop_servers "$DIR"
	die "tempauth did not issue a token"
}
token=$(printf '%s\n' "$hdrs" | tr -d '\r' | sed -n 's/^[Xx]-[Aa]uth-[Tt]oken: //p')
url=$(printf '%s\n' "$hdrs" | tr -d '\r' | sed -n 's/^[Xx]-[Ss]torage-[Uu]rl: //p')
i=0
until curl -sf -o /dev/null -X PUT -H "X-Auth-Token: $token" "$url/$BUCKET"; do
	# The account is auto-created on first use; a fresh server may need a moment.
	i=$((i + 1))
	if [ $i -ge 50 ]; then
		tail -n 20 "$DIR"/log/*.log >&2
		stop_servers "$DIR"
		die "cannot create bucket $BUCKET"
	fi
	sleep 0.1
done

cat >"$DIR/env" <<EOF
AWS_ENDPOINT_URL=$ENDPOINT
AWS_ACCESS_KEY_ID=$ACCESS_KEY
AWS_SECRET_ACCESS_KEY=$SECRET_KEY
AWS_REGION=$REGION
S3_BUCKET=$BUCKET
EOF
cat "$DIR/env"
