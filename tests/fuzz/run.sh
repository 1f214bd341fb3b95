#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ (clang, ASan + UBSan) and runs each for a
# bounded time. Usage:
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]    (default: 60 s each, every target)
#
# Targets: http (src/http.c on llhttp), conn (src/conn.c driven by fake completions),
# chunk (chunk-size lines, extensions and trailers in src/http.c; its seeds are kept in
# tests/fuzz/seeds/chunk/), toml (the TOML reader, tunables/toml.c), cli (tun_parse on a
# command line, and the UWSGI_FAST_CMD_ARGS splitter and scanner; it runs no config file
# and resolves no name, see cli_fuzz.c), alog (the --access-logformat compiler and renderer,
# src/accesslog.c), proxy (the PROXY protocol header parser, src/proxyproto.c), uwsgi (the
# uwsgi protocol's packet parser, src/uwsgiproto.c), ws (the WebSocket frame reader,
# src/wsread.c). The seeds of toml, cli, alog, proxy, uwsgi and ws are kept in
# tests/fuzz/seeds/<target>/.
# Everything it makes lives in tests/fuzz/work/ (gitignored; $UF_FUZZ_WORK overrides):
# bin/ the binaries, seeds/ the seed corpora built from ../shared/conformance, corpus/
# what each target grew (kept between runs), artifacts/ crash reproducers. A finding is
# replayed with: tests/fuzz/work/bin/<target> tests/fuzz/work/artifacts/<target>-crash-...
# Exits non-zero if any target found something; the last line counts the targets.
#
# clang-14 and libclang-rt-14-dev (libFuzzer and the sanitizer runtimes) are installed
# with apt-get when missing. $LLHTTP_SRC and $LLHTTP_INC locate llhttp as in build.zig.
set -euo pipefail

secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(http conn chunk toml cli alog proxy uwsgi ws)

root=$(cd "$(dirname "$0")/../.." && pwd)
work=${UF_FUZZ_WORK:-$root/tests/fuzz/work}
llhttp_src=${LLHTTP_SRC:-/usr/share/llhttp}
llhttp_inc=${LLHTTP_INC:-/usr/share/include/llhttp}
py=$root/.venv/bin/python
[ -x "$py" ] || py=python3
cc=${CC_FUZZ:-clang-14}

# ---- toolchain (idempotent) ------------------------------------------------------------
probe_fuzzer() {
    local d
    d=$(mktemp -d)
    printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' \
        > "$d/p.c"
    "$cc" -fsanitize=fuzzer,address,undefined "$d/p.c" -o "$d/p" >/dev/null 2>&1
    local rc=$?
    rm -rf "$d"
    return $rc
}
if ! command -v "$cc" >/dev/null 2>&1 || ! probe_fuzzer; then
    echo "run.sh: installing clang-14 and libclang-rt-14-dev" >&2
    export DEBIAN_FRONTEND=noninteractive
    pkgs=(clang-14 libclang-rt-14-dev)
    apt-get install -y -q "${pkgs[@]}" >/dev/null ||
        { apt-get update -q >/dev/null && apt-get install -y -q "${pkgs[@]}" >/dev/null; }
    probe_fuzzer || { echo "run.sh: $cc cannot build libFuzzer targets" >&2; exit 2; }
fi
for f in llhttp.c api.c http.c; do
    [ -f "$llhttp_src/$f" ] ||
        { echo "run.sh: $llhttp_src/$f missing (Debian node-llhttp)" >&2; exit 2; }
done

# ---- build -------------------------------------------------------------------------------
# Flags as build.zig's, plus the sanitizers; tests/fuzz/shim first so that common/mem.c
# allocates with malloc, which ASan can see into (see shim/mimalloc.h). llhttp is built
# as the binary builds it (LLHTTP_STRICT_MODE), so what is fuzzed is what ships.
cflags=(-g -O1 -std=gnu11 -D_GNU_SOURCE -fno-omit-frame-pointer
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
        -I"$root/tests/fuzz/shim" -I"$root" -I"$llhttp_inc" -DLLHTTP_STRICT_MODE=1)
llhttp=("$llhttp_src/llhttp.c" "$llhttp_src/api.c" "$llhttp_src/http.c")
mkdir -p "$work/bin" "$work/artifacts"

build() {
    local t=$1
    case $t in
    http)
        "$cc" "${cflags[@]}" -w "$root/tests/fuzz/http_fuzz.c" "$root/src/http.c" \
            "$root/common/mem.c" "${llhttp[@]}" -o "$work/bin/http" ;;
    chunk)
        "$cc" "${cflags[@]}" -w "$root/tests/fuzz/chunk_fuzz.c" "$root/src/http.c" \
            "$root/common/mem.c" "${llhttp[@]}" -o "$work/bin/chunk" ;;
    conn)
        # conn_fuzz.c includes src/conn.c; the rest of the connection's files are linked
        # as they are (conn_fuzz.c stubs what lies outside them). Python's headers are
        # needed for the types only.
        local pyinc
        pyinc=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
        local conn_files=(src/proxy.c src/proxyhdr.c src/proxyproto.c src/uwsgireq.c src/uwsgiproto.c
                          src/admit.c src/reply.c src/filesend.c src/spool.c src/handoff.c src/loopcall.c
                          src/http.c src/response.c common/mem.c common/net.c)
        "$cc" "${cflags[@]}" -w -I"$pyinc" "$root/tests/fuzz/conn_fuzz.c" \
            "${conn_files[@]/#/$root/}" "${llhttp[@]}" -o "$work/bin/conn" ;;
    toml)
        "$cc" "${cflags[@]}" "$root/tests/fuzz/toml_fuzz.c" "$root/tunables/toml.c" \
            "$root/common/mem.c" -o "$work/bin/toml" ;;
    cli)
        # every tunables module but pyconfig.c (cli_fuzz.c stubs it: no Python is started)
        # and doctor.c (not reached from tun_parse)
        local f tun=()
        for f in "$root"/tunables/*.c; do
            case "$f" in */pyconfig.c | */doctor.c) ;; *) tun+=("$f") ;; esac
        done
        "$cc" "${cflags[@]}" "$root/tests/fuzz/cli_fuzz.c" "${tun[@]}" "$root/common/mem.c" \
            "$root/common/net.c" -o "$work/bin/cli" ;;
    alog)
        # src/accesslog.h reaches Python's headers through python_bridge/wsgi.h (types only)
        local pyinc
        pyinc=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
        "$cc" "${cflags[@]}" -w -I"$pyinc" -DUF_VERSION='"0.0.0-fuzz"' "$root/tests/fuzz/alog_fuzz.c" \
            "$root/src/accesslog.c" "$root/src/base64.c" "$root/common/mem.c" "$root/common/log.c" \
            -o "$work/bin/alog" ;;
    proxy)
        "$cc" "${cflags[@]}" "$root/tests/fuzz/proxy_fuzz.c" "$root/src/proxyproto.c" \
            -o "$work/bin/proxy" ;;
    uwsgi)
        "$cc" "${cflags[@]}" "$root/tests/fuzz/uwsgi_fuzz.c" "$root/src/uwsgiproto.c" \
            -o "$work/bin/uwsgi" ;;
    ws)
        "$cc" "${cflags[@]}" "$root/tests/fuzz/ws_fuzz.c" "$root/src/wsread.c" "$root/src/wsframe.c" \
            "$root/src/wsutf8.c" "$root/common/mem.c" -o "$work/bin/ws" ;;
    *)
        echo "run.sh: unknown target $t" >&2; return 2 ;;
    esac
}

"$py" "$root/tests/fuzz/make_seeds.py" "$work/seeds" >/dev/null

passed=0
failed=0
for t in "${targets[@]}"; do
    echo "== $t: build"
    if ! build "$t" 2> "$work/$t.build.log"; then
        failed=$((failed + 1))
        echo "== $t: BUILD FAILED (log: $work/$t.build.log)"
        # conn_fuzz.c stubs what src/conn.c calls; a new callee shows up here
        grep -oE "undefined reference to \`[a-z_0-9]+'" "$work/$t.build.log" | sort -u || true
        grep -E 'error:' "$work/$t.build.log" | head -5 || true
        continue
    fi
    mkdir -p "$work/corpus/$t" "$work/seeds/$t"
    # past findings (tests/fuzz/regressions/<target>-*) must stay fixed
    regressions=("$root"/tests/fuzz/regressions/"$t"-*)
    if [ -e "${regressions[0]}" ] && ! "$work/bin/$t" "${regressions[@]}" > "$work/$t.regress.log" 2>&1; then
        failed=$((failed + 1))
        echo "== $t: a past finding is back (log: $work/$t.regress.log)"
        grep -E 'invariant|ERROR|SUMMARY|runtime error' "$work/$t.regress.log" | head -10
        continue
    fi
    echo "== $t: run ${secs}s"
    # nice: other work shares this machine; one process per target
    if nice -n 10 "$work/bin/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -max_len=8192 -print_final_stats=1 -artifact_prefix="$work/artifacts/$t-" \
        "$work/corpus/$t" "$work/seeds/$t" $(ls -d "$root/tests/fuzz/seeds/$t" 2>/dev/null) \
        > "$work/$t.log" 2>&1; then
        passed=$((passed + 1))
        grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$work/$t.log" || true
    else
        failed=$((failed + 1))
        echo "== $t: FINDING (log: $work/$t.log)"
        grep -E 'invariant|ERROR|SUMMARY|runtime error|Test unit written' "$work/$t.log" | head -20
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
