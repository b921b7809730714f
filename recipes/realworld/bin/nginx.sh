#!/bin/sh
# Run nginx as a reverse proxy for stagedeck, in the foreground, with every file
# it writes in STATE_DIR (no /etc/nginx, /var/log or /var/lib/nginx needed).
#
#   sh nginx.sh STATE_DIR LISTEN_PORT UPSTREAM_URL
set -eu
state=$1
port=$2
upstream=$3
here=$(cd "$(dirname "$0")/.." && pwd)

nginx=$(command -v nginx 2>/dev/null || true)
[ -n "$nginx" ] || [ ! -x /usr/sbin/nginx ] || nginx=/usr/sbin/nginx
if [ -z "$nginx" ]; then
    echo "nginx.sh: error: nginx not found; install the Debian package 'nginx-light'" >&2
    exit 127
fi

mkdir -p "$state/temp"
# Temp paths for the modules this nginx was built with (each defaults to /var/lib/nginx).
temp_paths=""
built=$("$nginx" -V 2>&1)
for module in fastcgi uwsgi scgi; do
    case "$built" in
        *"--without-http_${module}_module"*) ;;
        *) temp_paths="$temp_paths ${module}_temp_path $state/temp/$module;" ;;
    esac
done

sed -e "s|@PORT@|$port|g" -e "s|@UPSTREAM@|$upstream|g" -e "s|@STATE@|$state|g" \
    -e "s|@TEMP_PATHS@|$temp_paths|" "$here/nginx.conf.template" >"$state/nginx.conf"
exec "$nginx" -p "$state" -e stderr -c "$state/nginx.conf" -g 'daemon off;'
