#!/usr/bin/env bash
# Make sure the system programs the tests drive for real are present and running.
# As root with apt-get (CI, fresh dev machines) missing packages are installed;
# otherwise we say what is missing and the tests that need it skip with that reason.
set -uo pipefail

need=()
command -v tmux >/dev/null || need+=(tmux)
command -v dockerd >/dev/null || need+=(docker.io)
command -v busybox >/dev/null || need+=(busybox-static)
[ -x /usr/lib/postgresql/15/bin/postgres ] || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
command -v redis-server >/dev/null || need+=(redis-server)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)

if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "system-deps: installing ${need[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || echo "system-deps: apt-get install failed"
    else
        echo "system-deps: missing ${need[*]} (not root: tests that need them will skip)"
    fi
fi

# A Docker engine: start it if it is installed and stopped (there is no systemd here).
if command -v dockerd >/dev/null && ! docker info >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        echo "system-deps: starting dockerd"
        nohup dockerd >/tmp/stagedeck-dockerd.log 2>&1 &
        for _ in $(seq 1 60); do
            docker info >/dev/null 2>&1 && break
            sleep 0.5
        done
        docker info >/dev/null 2>&1 || { echo "system-deps: dockerd did not start:"; tail -20 /tmp/stagedeck-dockerd.log; }
    fi
fi
# File watching (hot reload tests, every cockpit) needs inotify instances, 128 per user
# by default; dockerd following the tests' containers' logs takes one per follower.
if [ "$(id -u)" = 0 ] && [ -w /proc/sys/fs/inotify/max_user_instances ]; then
    current=$(cat /proc/sys/fs/inotify/max_user_instances)
    [ "$current" -lt 1024 ] && echo 1024 >/proc/sys/fs/inotify/max_user_instances 2>/dev/null
fi
exit 0
