#!/usr/bin/env bash
# Profiles one uwsgi-fast worker under wrk load and writes flame graphs of its CPU time:
#   flamegraphs/<scenario>.svg / .txt       user-space CPU, C and Python frames together
#                                           (py-spy --native)
#   flamegraphs/<scenario>-perf.svg / .txt  all CPU of the same worker seen by perf:
#                                           kernel, uwsgi-fast C and libpython frames, with
#                                           Python code as the interpreter loop (skipped
#                                           when perf is missing or not permitted)
# Each .txt is the summary: where the samples end, top frames.
#
# Usage: flamegraphs/profile.sh [hello|flask|body-10k|stream-1m|file-1m|post-64k]
#   env: DURATION=10 (seconds sampled)  RATE=250 (samples/s)  CONNECTIONS=50
#        UWSGI_FAST=zig-out/bin/uwsgi-fast   OUT_DIR=flamegraphs
#        ENGINE=epoll (--engine epoll; the files are named epoll-<scenario>.*; default:
#        the server's own choice, io_uring where it works)
#
# How: uwsgi-fast runs the benchmark's app (tests/bench/apps) with one worker; wrk -t1
# loads it; `py-spy record --native` samples the worker (py-spy from the bench venv,
# .deps/bench-venv, which tests/bench/run.py --install-only sets up); flamegraphs/flame.py
# names the binary's frames (py-spy leaves them as addresses) and draws the SVG.
# py-spy pauses the worker for each sample, so throughput while profiling is lower than in
# the benchmark; the proportions are what matter. Only on-CPU samples are kept (py-spy
# skips a thread that sleeps in io_uring_enter), so the graph shows where CPU time goes.
# py-spy sees the time spent inside a system call only as its user-space call site (and
# cannot always unwind from there: such samples are counted and left out); perf (Debian
# linux-perf, cpu-clock samples, DWARF call chains) shows what the kernel does with it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scenario=${1:-hello}
body=0
case "$scenario" in
    hello) app=bench_wsgi:hello; path=/ ;;
    flask|flask-json) scenario=flask; app=bench_flask:app; path=/json ;;
    body-10k) app=bench_wsgi:body_10k; path=/ ;;
    stream-1m) app=bench_wsgi:stream_1m; path=/ ;;
    file-1m) app=bench_wsgi:file_1m; path=/ ;;
    post-64k) app=bench_wsgi:echo; path=/; body=65536 ;;
    *) echo "usage: $0 [hello|flask|body-10k|stream-1m|file-1m|post-64k]" >&2; exit 2 ;;
esac
duration=${DURATION:-10}
rate=${RATE:-250}
conns=${CONNECTIONS:-50}
engine=${ENGINE:-}
engine_flags=()
name=$scenario
if [ -n "$engine" ]; then
    engine_flags=(--engine "$engine")
    [ "$engine" = io_uring ] || name=$engine-$scenario
fi
uf=${UWSGI_FAST:-$root/zig-out/bin/uwsgi-fast}
out_dir=${OUT_DIR:-$root/flamegraphs}
venv=$root/.deps/bench-venv

[ -x "$uf" ] || { echo "profile: $uf not found; run scripts/zig build" >&2; exit 2; }
if [ ! -x "$venv/bin/py-spy" ] || ! "$venv/bin/python" -c 'import flask' 2>/dev/null; then
    python3 tests/bench/run.py --install-only
fi
command -v wrk >/dev/null || { echo "profile: wrk missing (Debian package wrk)" >&2; exit 2; }
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

tmp=$(mktemp -d /tmp/uwsgi-fast-profile.XXXXXX)
# Run a private copy: a rebuild of zig-out/bin while we profile must not change the binary
# whose addresses flame.py names afterwards.
cp "$uf" "$tmp/uwsgi-fast"
uf_src=$uf
uf=$tmp/uwsgi-fast
master=""
wrk_pid=""
cleanup() {
    [ -n "$wrk_pid" ] && kill "$wrk_pid" 2>/dev/null || true
    if [ -n "$master" ] && kill -0 "$master" 2>/dev/null; then
        kill -INT "$master" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$master" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$master" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$uf" -w 1 -b "127.0.0.1:$port" --chdir "$root/tests/bench/apps" --pythonpath "$site" \
    ${engine_flags[@]+"${engine_flags[@]}"} "$app" \
    >"$tmp/server.log" 2>&1 &
master=$!

for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    kill -0 "$master" 2>/dev/null || { echo "profile: uwsgi-fast exited:" >&2; cat "$tmp/server.log" >&2; exit 1; }
    sleep 0.1
done
worker=""
for _ in $(seq 50); do
    worker=$(pgrep -P "$master" | head -n1 || true)
    [ -n "$worker" ] && break
    sleep 0.1
done
[ -n "$worker" ] || { echo "profile: no worker process under $master" >&2; exit 1; }

use_perf=0
command -v perf >/dev/null && [ "${NO_PERF:-0}" = 0 ] && use_perf=1
BENCH_BODY_BYTES=$body wrk -t1 -c"$conns" -d"$(( (1 + use_perf) * duration + 3 ))s" \
    -s tests/bench/wrk/report.lua \
    "http://127.0.0.1:$port$path" >"$tmp/wrk.txt" 2>&1 &
wrk_pid=$!
sleep 1
cp "/proc/$worker/maps" "$tmp/maps"
cpu_ticks() { awk '{print $14, $15}' "/proc/$worker/stat"; }
read -r u0 s0 < <(cpu_ticks)
t0=$(date +%s.%N)
# py-spy gives up when its very first sample cannot be unwound, which happens when the
# worker is inside io_uring_enter at that instant (libunwind stops there on some builds):
# try again a few times. Later samples that fail the same way are counted as "Errors"
# and left out; the kernel view below covers that time.
ok=0
for _ in $(seq 30); do
    if "$venv/bin/py-spy" record --native --nolineno -p "$worker" -d "$duration" -r "$rate" \
            -f raw -o "$tmp/raw.txt" >"$tmp/py-spy.log" 2>&1; then
        ok=1
        break
    fi
    sleep 0.2
done
[ "$ok" = 1 ] || { echo "profile: py-spy failed:" >&2; cat "$tmp/py-spy.log" >&2; exit 1; }
read -r u1 s1 < <(cpu_ticks)
t1=$(date +%s.%N)
if [ "$use_perf" = 1 ]; then
    read -r u2 s2 < <(cpu_ticks)
    t2=$(date +%s.%N)
    if perf record -q -e cpu-clock -F 499 --call-graph dwarf,16384 -p "$worker" \
            -o "$tmp/perf.data" \
            -- sleep "$duration" >"$tmp/perf.log" 2>&1; then
        read -r u3 s3 < <(cpu_ticks)
        t3=$(date +%s.%N)
        perf script -i "$tmp/perf.data" >"$tmp/perf.txt" 2>/dev/null || use_perf=0
    else
        echo "profile: perf record failed, perf view skipped: $(tail -n1 "$tmp/perf.log")" >&2
        use_perf=0
    fi
fi
wait "$wrk_pid" || true
wrk_pid=""
rps=$(sed -n 's/^Requests\/sec: *//p' "$tmp/wrk.txt")
samples=$(grep -o 'Samples: [0-9]*' "$tmp/py-spy.log" || true)
unwind_errors=$(sed -n 's/.*Errors: \([0-9]*\).*/\1/p' "$tmp/py-spy.log" | tail -n1)

hz=$(getconf CLK_TCK)
# Share of one core the worker used, and how much of it was kernel time.
usage() { awk -v u="$3" -v s="$4" -v a="$1" -v b="$2" -v hz="$hz" -v t="$5" \
    'BEGIN { c = (u + s - a - b) / hz; printf "worker busy %.0f%% of a core, %.0f%% of that in the kernel", 100 * c / t, (c > 0 ? 100 * (s - b) / hz / c : 0) }'; }
busy=$(usage "$u0" "$s0" "$u1" "$s1" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
build=$(sha256sum "$uf" | cut -c1-12)
engine_note=${engine:+, --engine $engine}
note="uwsgi-fast build $build; $app at $path$engine_note, 1 worker, wrk -t1 -c$conns: ${rps:-?} req/s over the whole load (sampling slows it); $busy while py-spy sampled at $rate Hz (${unwind_errors:-0} samples it could not unwind, left out); $(date -u +%Y-%m-%d)"
mkdir -p "$out_dir"
python3 flamegraphs/flame.py "$tmp/raw.txt" --maps "$tmp/maps" --binary "$uf" \
    --svg "$out_dir/$name.svg" --summary "$out_dir/$name.txt" --user-only \
    --title "uwsgi-fast worker user-space CPU, C and Python frames (py-spy --native): $name" \
    --note "$note"
echo "profile: wrote $out_dir/$name.svg and $name.txt ($samples; ${rps:-?} req/s)"
if [ "$use_perf" = 1 ]; then
    kbusy=$(usage "$u2" "$s2" "$u3" "$s3" "$(awk -v a="$t2" -v b="$t3" 'BEGIN { print b - a }')")
    python3 flamegraphs/flame.py "$tmp/perf.txt" --perf \
        --svg "$out_dir/$name-perf.svg" --summary "$out_dir/$name-perf.txt" \
        --title "uwsgi-fast worker CPU, kernel + C frames (perf --call-graph dwarf): $name" \
        --note "uwsgi-fast build $build; $app at $path$engine_note, 1 worker, wrk -t1 -c$conns; $kbusy while perf sampled at 499 Hz; $(date -u +%Y-%m-%d)"
    echo "profile: wrote $out_dir/$name-perf.svg and $name-perf.txt"
fi
