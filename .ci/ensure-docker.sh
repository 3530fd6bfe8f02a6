#!/usr/bin/env bash
# Make sure a Docker engine answers and the sandbox image exists (CI, `make test` on a fresh machine).
#
# 1. `docker info` works already: nothing to do for the engine.
# 2. Otherwise install docker.io from Debian (only when dockerd is missing), start dockerd in the
#    background (log: .cache/dockerd.log) and wait up to 60 s for it.
# 3. Build the sandbox image (`emulator image build`): a no-op when an identical image exists; the first time
#    on a machine without a registry it builds a Debian base with debootstrap (about 2 minutes).
#
# Needs root for steps 2 and the debootstrap base (CI runs as root). Exits non-zero with a clear message when
# the engine cannot be had: CI must fail rather than skip the docker tests.
set -euo pipefail
cd "$(dirname "$0")/.."

log_dir=.cache
mkdir -p "$log_dir"
python=${PYTHON:-.venv/bin/python}

engine_up() { timeout 10 docker info >/dev/null 2>&1; }

if ! engine_up; then
    if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
        echo "ensure-docker: installing docker.io"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq docker.io >/dev/null
    fi
    if ! command -v debootstrap >/dev/null 2>&1; then
        apt-get install -y -qq debootstrap >/dev/null || echo "ensure-docker: debootstrap not installed" >&2
    fi
    if ! pgrep -x dockerd >/dev/null 2>&1; then
        echo "ensure-docker: starting dockerd (log: $log_dir/dockerd.log)"
        nohup dockerd >"$log_dir/dockerd.log" 2>&1 &
    fi
    for _ in $(seq 60); do
        engine_up && break
        sleep 1
    done
    if ! engine_up; then
        echo "ensure-docker: the Docker engine did not come up within 60 s; last lines of its log:" >&2
        tail -n 30 "$log_dir/dockerd.log" >&2 || true
        exit 1
    fi
fi
echo "ensure-docker: $(docker version --format 'engine {{.Server.Version}}' 2>/dev/null || echo 'engine up')"

if ! command -v debootstrap >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    # the sandbox image's base is built with debootstrap when no registry can be reached
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null 2>&1 \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
fi

echo "ensure-docker: building the sandbox image (no-op when up to date)"
"$python" -m emulator.sandbox.image
