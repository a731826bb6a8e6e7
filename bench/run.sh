#!/usr/bin/env bash
# Performance benchmark of feedwatch: one cold and one warm `feedwatch once` over N synthetic
# feeds served by a loopback nginx, optionally beside the peer tools in the same run.
#
# usage: bench/run.sh [N_FEEDS] [ITEMS] [--peers]      (defaults: 200 feeds, 50 items each)
#
# What it does:
#   1. cargo build --release (target/release/feedwatch; set FEEDWATCH_BIN=path to time
#      another build instead, e.g. an experimental copy of the repo, without building);
#   2. writes N feeds of ITEMS items with ../shared/bench/gen_feeds.py (plus its truth.json,
#      the items that truly mention a watch term) into a fresh temp dir;
#   3. serves them with nginx (bench/nginx.conf: 127.0.0.1:8089, ETag, Last-Modified, gzip);
#   4. writes a feedwatch config (the N feeds, backlog = "all", watches cis and csto, store
#      and alert log in the temp dir) and times `feedwatch --config CFG once` twice with
#      /usr/bin/time: cold (fresh store, every item new) and warm (nothing new, all 304);
#      prints wall time, items/s (N*ITEMS / wall) and peak RSS of each, and the store's
#      disk use per item after the cold run and after a compaction (examples/disk_use.rs;
#      not with FEEDWATCH_BIN), then a warm run again on the compacted store, and the floor:
#      how long sled alone takes to write the entries of N*ITEMS new items
#      (examples/sled_floor.rs, transactions as the store writes them; not with FEEDWATCH_BIN);
#   5. checks the alert log against truth.json: the count (and the set of links) must be
#      equal and the warm run must add no alert; a mismatch is printed loudly, exit code 1;
#   6. with --peers, runs ../shared/bench/peers.sh N (rss2email, feed2exec, newsboat) against
#      the same feeds and prints feedwatch's figures as ratios against them, with the targets:
#      cold >= 10x faster than newsboat cold, warm >= 10x faster than rss2email warm, peak
#      memory below every peer's (a tool's peak: the larger of its cold and warm runs'). A
#      missed target is reported but does not change the exit code.
# nginx is stopped and the temp dir removed on exit. Missing packages (nginx-light, time,
# and with --peers rss2email feed2exec newsboat) are installed with apt-get (needs root).
# Environment: FW_CONCURRENCY=K sets `[fetch] concurrency = K` in the bench config;
# FW_PER_HOST=K sets `[fetch] per_host` (default: the concurrency, 32; only if this build
# knows the key), since the N loopback feeds stand for N outlets; FW_CACHE=16MiB sets
# `[storage] cache`;
# BENCH_KEEP=1 keeps the temp dir; SHARED=dir overrides ../shared.
# The bench may use ../shared; `cargo test` must not.
set -euo pipefail

n=200 m=50 peers=0 pos=0
for a in "$@"; do
    case "$a" in
        --peers) peers=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *[!0-9]*|'') echo "bench/run.sh: bad argument '$a' (usage: bench/run.sh [N_FEEDS] [ITEMS] [--peers])" >&2; exit 2 ;;
        *) if [ $pos -eq 0 ]; then n=$a; else m=$a; fi; pos=$((pos + 1)) ;;
    esac
done
[ "$n" -gt 0 ] && [ "$m" -gt 0 ] || { echo "bench/run.sh: N_FEEDS and ITEMS must be > 0" >&2; exit 2; }

root=$(cd "$(dirname "$0")/.." && pwd)
shared=${SHARED:-$root/../shared}
if [ ! -f "$shared/bench/gen_feeds.py" ] || [ ! -f "$shared/bench/peers.sh" ]; then
    echo "bench/run.sh: $shared/bench (gen_feeds.py, peers.sh) is missing; the benchmark needs ../shared beside the repo" >&2
    exit 1
fi

# --- packages, installed only when absent -------------------------------------------------
need=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
[ -x /usr/bin/time ] || need+=(time)
command -v python3 >/dev/null || need+=(python3)
if [ $peers -eq 1 ]; then
    command -v r2e >/dev/null || need+=(rss2email)
    command -v feed2exec >/dev/null || need+=(feed2exec)
    command -v newsboat >/dev/null || need+=(newsboat)
fi
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "${need[@]}" >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q "${need[@]}" >/dev/null; }
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

# --- build --------------------------------------------------------------------------------
if [ -n "${FEEDWATCH_BIN:-}" ]; then
    fw=$FEEDWATCH_BIN
    echo "feedwatch: $fw (FEEDWATCH_BIN, not built here)"
else
    echo "building: cargo build --release"
    (cd "$root" && cargo build --release --quiet && cargo build --release --quiet --example disk_use --example sled_floor)
    fw=$root/target/release/feedwatch
    disk_use=$root/target/release/examples/disk_use
    sled_floor=$root/target/release/examples/sled_floor
fi
[ -x "$fw" ] || { echo "bench/run.sh: no binary at $fw" >&2; exit 1; }

# --- temp dir, nginx, cleanup -------------------------------------------------------------
tmp=$(mktemp -d /tmp/feedwatch-bench.XXXXXX)
chmod 755 "$tmp"   # nginx workers run as nobody
srv=$tmp/srv
mkdir -p "$srv/tmp" "$tmp/feeds" "$tmp/fw"
ln -s "$tmp/feeds" "$srv/feeds"
nginx_pid=
cleanup() {
    if [ -n "$nginx_pid" ]; then   # our child, in the foreground: stop it and reap it
        kill "$nginx_pid" 2>/dev/null || true
        wait "$nginx_pid" 2>/dev/null || true
    fi
    if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

load=$(cut -d' ' -f1 /proc/loadavg)
echo "machine: $(nproc) cores, load average $load"
awk -v l="$load" -v c="$(nproc)" 'BEGIN { exit !(l > c / 2) }' && echo "WARNING: the machine is busy (load $load): wall times will be noisy; compare tools within one run, as ratios"
echo "generating: $n feeds x $m items"
python3 "$shared/bench/gen_feeds.py" "$tmp/feeds" "$n" "$m"
echo "feeds: $(du -sh "$tmp/feeds" | cut -f1) in $tmp/feeds"

if (exec 3<>/dev/tcp/127.0.0.1/8089) 2>/dev/null; then
    echo "bench/run.sh: something already listens on 127.0.0.1:8089; stop it first" >&2
    exit 1
fi
"$nginx_bin" -c "$root/bench/nginx.conf" -p "$srv/" -e "$srv/error.log" -g 'daemon off;' &
nginx_pid=$!
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/8089) 2>/dev/null && break; sleep 0.1; done
code=$(python3 -c 'import urllib.request as u; print(u.urlopen("http://127.0.0.1:8089/feed0.xml").status)' 2>/dev/null || true)
[ "$code" = 200 ] || { echo "bench/run.sh: nginx does not serve feed0.xml (got '$code'); see $srv/error.log" >&2; cat "$srv/error.log" >&2 || true; exit 1; }

# --- feedwatch config ---------------------------------------------------------------------
cfg=$tmp/fw/feedwatch.toml
write_config() { # write_config PER_HOST (empty: leave the key out, for builds without it)
    printf '[storage]\npath = "%s"\n' "$tmp/fw/store"
    [ -z "${FW_CACHE:-}" ] || printf 'cache = "%s"\n' "$FW_CACHE"
    printf '\n[alerts]\nlog = "%s"\n\n[fetch]\n' "$tmp/fw/alerts.jsonl"
    [ -z "${FW_CONCURRENCY:-}" ] || printf 'concurrency = %s\n' "$FW_CONCURRENCY"
    [ -z "$1" ] || printf 'per_host = %s\n' "$1"
    printf '\n[defaults]\nbacklog = "all"\n\n'
    printf '[[watch]]\nname = "cis"\nterms = ["CIS", "Commonwealth of Independent States", "СНГ"]\n\n'
    printf '[[watch]]\nname = "csto"\nterms = ["CSTO", "ОДКБ"]\n\n'
    for ((i = 0; i < n; i++)); do
        printf '[[feeds]]\nname = "f%d"\nurl = "http://127.0.0.1:8089/feed%d.xml"\n' "$i" "$i"
    done
}
# All N feeds live on one loopback host but stand for N outlets: lift the per-host limit
# (fetch.per_host, default 2) to the global one, in builds that have that key.
per_host=${FW_PER_HOST:-${FW_CONCURRENCY:-32}}
write_config "$per_host" > "$cfg"
if ! "$fw" --config "$cfg" check > /dev/null 2> "$tmp/fw/check.err"; then
    if grep -q per_host "$tmp/fw/check.err"; then
        per_host="(not in this build)"
        write_config "" > "$cfg"
    fi
    "$fw" --config "$cfg" check > /dev/null
fi
echo "config: $n feeds, backlog all, watches cis and csto, concurrency ${FW_CONCURRENCY:-default}, per_host $per_host, cache ${FW_CACHE:-default}"

# --- timing -------------------------------------------------------------------------------
items=$((n * m))
declare -A wall rss
fail=0
run() { # run LABEL: one timed `feedwatch once`
    local label=$1 out=$tmp/fw/$1.out tf=$tmp/fw/$1.time rc=0
    /usr/bin/time -o "$tf" -f "%e s wall %U user %S sys %M KB" "$fw" --config "$cfg" once > "$out" 2> "$tmp/fw/$label.err" || rc=$?
    local t; t=$(tail -1 "$tf")
    wall[$label]=$(awk '{print $1}' <<< "$t")
    rss[$label]=$(awk '{print $(NF-1)}' <<< "$t")
    printf 'feedwatch %s: %s  | %s items/s, peak RSS %s MB\n' "$label" "$t" \
        "$(awk -v i="$items" -v w="${wall[$label]}" 'BEGIN { printf "%.0f", (w > 0 ? i / w : 0) }')" \
        "$(awk -v k="${rss[$label]}" 'BEGIN { printf "%.1f", k / 1024 }')"
    sed 's/^/    /' "$out"
    if [ $rc -ne 0 ]; then
        echo "!!! feedwatch $label exited $rc:" >&2; sed 's/^/    /' "$tmp/fw/$label.err" >&2; fail=1
    elif grep -q ' [1-9][0-9]* failed' "$out"; then
        echo "!!! feedwatch $label: some feeds failed" >&2; fail=1
    fi
}
count_alerts() { python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if l.strip() and json.loads(l).get("kind") == "match"))' "$tmp/fw/alerts.jsonl" 2>/dev/null || echo 0; }

run cold
after_cold=$(count_alerts)
[ -z "${disk_use:-}" ] || "$disk_use" "$tmp/fw/store" | sed 's/^/disk: /'
run warm
after_warm=$(count_alerts)
if [ -n "${disk_use:-}" ]; then
    "$disk_use" "$tmp/fw/store" --compact | sed 's/^/disk: /'
    run compacted # a warm run again, on the compacted (zstd-compressed) store
    [ "$(count_alerts)" -eq "$after_warm" ] || { echo "!!! the run on the compacted store raised alerts" >&2; fail=1; }
fi

# --- the floor: sled alone writing the entries this run wrote (examples/sled_floor.rs) ----
if [ -n "${sled_floor:-}" ]; then
    floor=$("$sled_floor" "$n" "$m" --only tx | tail -1)
    echo "floor: $floor"
    wall[floor]=$(awk '{ for (i = 1; i < NF; i++) if ($(i + 1) == "s" && $(i + 2) == "wall,") print $i }' <<< "$floor")
fi

# --- the alerts against truth.json --------------------------------------------------------
truth=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$tmp/feeds/truth.json")
echo "alerts: $after_cold in the alert log after the cold run, truth.json: $truth true matches; warm run added $((after_warm - after_cold))"
diff=$(python3 - "$tmp/fw/alerts.jsonl" "$tmp/feeds/truth.json" <<'PY' || true
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()] if __import__("os").path.exists(sys.argv[1]) else []
got = {(a["link"], a["watch"]) for a in lines if a.get("kind") == "match"}
want = {(t["guid"], "csto" if t["term"] in ("CSTO", "ОДКБ") else "cis") for t in json.load(open(sys.argv[2]))}
for x in sorted(want - got)[:10]: print("  missed:   ", *x)
for x in sorted(got - want)[:10]: print("  spurious: ", *x)
PY
)
if [ "$after_cold" -ne "$truth" ] || [ "$after_warm" -ne "$after_cold" ] || [ -n "$diff" ]; then
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
    echo "!!! ALERT MISMATCH: alert log has $after_cold (then $after_warm), truth.json says $truth" >&2
    [ -n "$diff" ] && echo "$diff" >&2
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
    fail=1
else
    echo "alerts: OK ($truth = $truth, same items and watches)"
fi

# --- peers --------------------------------------------------------------------------------
if [ $peers -eq 1 ]; then
    echo "peers: $shared/bench/peers.sh $n"
    pout=$tmp/peers.out
    (cd "$tmp" && bash "$shared/bench/peers.sh" "$n") | tee "$pout"
    get() { awk -v k="$1 $2:" -v f="$3" 'index($0, k) == 1 { n = split($0, a, " "); print (f == "wall" ? a[3] : a[n-1]) }' "$pout"; }
    echo
    echo "| tool | cold wall | warm wall | peak RSS (cold/warm) | cold items/s | vs feedwatch cold | vs feedwatch warm |"
    echo "|---|---|---|---|---|---|---|"
    row() { # row NAME COLD WARM RSSC RSSW
        awk -v t="$1" -v c="$2" -v w="$3" -v rc="$4" -v rw="$5" -v i="$items" -v fc="${wall[cold]}" -v fwm="${wall[warm]}" 'BEGIN {
            printf "| %s | %.2f s | %.2f s | %.1f / %.1f MB | %.0f | %s | %s |\n", t, c, w, rc / 1024, rw / 1024, (c > 0 ? i / c : 0),
                (fc > 0 ? sprintf("%.1fx", c / fc) : "-"), (fwm > 0 ? sprintf("%.1fx", w / fwm) : "-") }'
    }
    row feedwatch "${wall[cold]}" "${wall[warm]}" "${rss[cold]}" "${rss[warm]}"
    for t in newsboat rss2email feed2exec; do
        row "$t" "$(get "$t" cold wall)" "$(get "$t" warm wall)" "$(get "$t" cold rss)" "$(get "$t" warm rss)"
    done
    echo "(vs feedwatch: how many times longer the tool took than feedwatch)"
    echo
    awk -v fc="${wall[cold]}" -v fwm="${wall[warm]}" -v frc="${rss[cold]}" -v frw="${rss[warm]}" -v fl="${wall[floor]:-0}" \
        -v nc="$(get newsboat cold wall)" -v rw="$(get rss2email warm wall)" \
        -v peers="newsboat $(get newsboat cold rss) $(get newsboat warm rss) rss2email $(get rss2email cold rss) $(get rss2email warm rss) feed2exec $(get feed2exec cold rss) $(get feed2exec warm rss)" 'BEGIN {
        fr = (frc > frw ? frc : frw)
        n = split(peers, p, " "); low = 0
        for (i = 1; i + 2 <= n; i += 3) {
            pr = (p[i + 1] > p[i + 2] ? p[i + 1] : p[i + 2])
            if (pr > 0 && (low == 0 || pr < low)) { low = pr; who = p[i] }
        }
        r1 = (fc > 0 ? nc / fc : 0); r2 = (fwm > 0 ? rw / fwm : 0)
        printf "target cold >= 10x faster than newsboat cold:  %.1fx  %s\n", r1, (r1 >= 10 ? "MET" : "MISSED")
        printf "target warm >= 10x faster than rss2email warm: %.1fx  %s\n", r2, (r2 >= 10 ? "MET" : "MISSED")
        printf "target peak RSS below every peer (lowest: %s):  %.1f MB vs %.1f MB  %s\n", who, fr / 1024, low / 1024, (fr < low ? "MET" : "MISSED")
        if (fl > 0) printf "the floor: sled alone writing these entries took %.2f s, newsboat cold / %.1f\n", fl, nc / fl
    }'
fi

exit $fail
