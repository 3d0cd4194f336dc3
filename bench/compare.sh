#!/usr/bin/env bash
# bench/compare.sh LLAMA_BENCH MODEL.gguf [THREADS...]
#
# Runs `retort bench --json` and llama.cpp's `llama-bench -o json` on the same GGUF file,
# alternating between the two tools (the order flips every round), and prints a markdown
# table of tokens/s (mean over all repetitions of all rounds) and the ratio retort/llama.cpp.
# llama.cpp is not part of this repository: pass the path of a llama-bench you built.
#
# Environment (all optional):
#   RETORT   retort binary (default: build/release/retort, what `make build` makes)
#   ROUNDS   rounds; each runs each tool once per thread count (default 5)
#   REPS     repetitions per tool run, after the tool's own warm-up (default 1)
#   PP, TG   prompt and generation lengths (default 512, 128)
#   DEPTHS   comma-separated context depths for extra tg tests, e.g. 4096,16384 (default none;
#            llama-bench gets -p 0 -n TG -d DEPTHS, retort bench -d DEPTHS)
#   OUT      folder for the raw JSON and logs (default: a new temporary folder)
#   RETORT_LABEL  how to name the retort build (default: the repo's HEAD commit, marked when
#            tracked files have uncommitted changes; set it when RETORT was built elsewhere)
#   LLAMA_LABEL  how to name the llama.cpp build in the table (default: llama-bench's
#            build_commit, "unknown" for a build made outside a git checkout)
#   INTERLEAVE_BW  seconds of bandwidth probe retort runs around each of its tg repetitions
#            (retort bench --interleave-bw; default 0, off); adds the column "retort of sustained"
#            and a table of retort's tg runs one by one with both probes' bandwidth
#   LLAMA_ARGS  extra llama-bench flags, named in the table, e.g. "-mmp 0" (load the weights
#            into memory instead of mapping the file: on a VM that pages out idle file pages,
#            mapped weights make llama.cpp's decoding erratic)
#
# ROUNDS=0 with OUT set to an earlier run's folder prints its tables again without running anything.
#
# Example: bench/compare.sh /tmp/llama-build/bin/llama-bench /tmp/qwen-1.5b-Q4_K_M.gguf 1 2
set -euo pipefail

if [[ $# -lt 2 ]]; then
    sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
LLAMA_BENCH=$1
MODEL=$2
shift 2
THREADS=("$@")
[[ ${#THREADS[@]} -eq 0 ]] && THREADS=(1 2)

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z ${RETORT:-} ]]; then
    RETORT=$ROOT/build/release/retort
fi
ROUNDS=${ROUNDS:-5}
REPS=${REPS:-1}
PP=${PP:-512}
TG=${TG:-128}
DEPTHS=${DEPTHS:-}
INTERLEAVE_BW=${INTERLEAVE_BW:-0}
LLAMA_ARGS=${LLAMA_ARGS:-}
OUT=${OUT:-$(mktemp -d /tmp/retort-compare.XXXXXX)}
mkdir -p "$OUT"

die() { echo "compare.sh: $*" >&2; exit 2; }
[[ -x $LLAMA_BENCH ]] || die "llama-bench not found or not executable: $LLAMA_BENCH"
[[ -n $RETORT && -x $RETORT ]] || die "retort not found: build it or set RETORT"
[[ -r $MODEL ]] || die "cannot read model file: $MODEL"
command -v python3 >/dev/null || die "python3 is needed to read the JSON"
TIME=""
[[ -x /usr/bin/time ]] && TIME=/usr/bin/time

# run NAME CMD...: stdout to $OUT/NAME.json, stderr to $OUT/NAME.log, peak RSS to $OUT/NAME.rss
run() {
    local name=$1
    shift
    echo "compare.sh: $name: $*" >&2
    cut -d' ' -f1 /proc/loadavg >"$OUT/$name.load" 2>/dev/null || true
    if [[ -n $TIME ]]; then
        "$TIME" -f "%M" -o "$OUT/$name.rss" "$@" >"$OUT/$name.json" 2>"$OUT/$name.log" ||
            die "$name failed, see $OUT/$name.log"
    else
        "$@" >"$OUT/$name.json" 2>"$OUT/$name.log" || die "$name failed, see $OUT/$name.log"
    fi
}

run_retort() {  # round threads
    local extra=()
    [[ -n $DEPTHS ]] && extra=(-d "0,$DEPTHS")
    [[ $INTERLEAVE_BW != 0 ]] && extra+=(--interleave-bw "$INTERLEAVE_BW")
    run "retort-r$1-t$2" "$RETORT" bench -m "$MODEL" -p "$PP" -n "$TG" -t "$2" -r "$REPS" "${extra[@]}" --json
}
run_llama() {  # round threads
    # $LLAMA_ARGS unquoted on purpose: it holds several flags.
    run "llama-r$1-t$2" "$LLAMA_BENCH" -m "$MODEL" -p "$PP" -n "$TG" -t "$2" -r "$REPS" $LLAMA_ARGS -o json
    if [[ -n $DEPTHS ]]; then
        run "llama-depth-r$1-t$2" "$LLAMA_BENCH" -m "$MODEL" -p 0 -n "$TG" -d "$DEPTHS" -t "$2" -r "$REPS" $LLAMA_ARGS -o json
    fi
}

for ((r = 1; r <= ROUNDS; r++)); do
    for t in "${THREADS[@]}"; do
        if ((r % 2)); then
            run_retort "$r" "$t"
            run_llama "$r" "$t"
        else
            run_llama "$r" "$t"
            run_retort "$r" "$t"
        fi
    done
done

COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | head -1)
[[ -n $DIRTY ]] && COMMIT="$COMMIT (+ uncommitted changes)"
[[ -n ${RETORT_LABEL:-} ]] && COMMIT=$RETORT_LABEL
CPU=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || echo unknown)

python3 - "$OUT" "$MODEL" "$COMMIT" "$CPU" "$REPS" "${LLAMA_LABEL:-}" "$LLAMA_ARGS" <<'EOF'
import glob, json, os, re, statistics, sys, datetime

out, model, commit, cpu, reps, llama_label, llama_args = sys.argv[1:8]
samples = {}   # (tool, test, threads) -> [tokens/s per repetition]
roof = {}      # (test, threads) -> [retort roofline fractions]
sustained = {} # (test, threads) -> [retort fractions of the roofline at the interleaved probes' bandwidth]
rss = {}       # (tool, threads) -> max KB
runs = []      # retort tg results with probes: (test, threads, round, tok/s, start GB/s, fraction, interleaved GB/s, fraction)
loads = [float(open(p).read()) for p in glob.glob(os.path.join(out, "*.load")) if open(p).read().strip()]
llama_build = "?"

def add(tool, test, threads, values):
    samples.setdefault((tool, test, threads), []).extend(values)

for path in sorted(glob.glob(os.path.join(out, "*.json"))):
    name = os.path.basename(path)[:-5]
    tool = "retort" if name.startswith("retort") else "llama"
    threads = int(re.search(r"-t(\d+)$", name).group(1))
    with open(path) as f:
        data = json.load(f)
    if tool == "retort":
        for res in data["results"]:
            n = res.get("reps", 1)
            add(tool, res["test"], res["threads"], [res["tokens_per_s"]["mean"]] * n)
            if "roofline_fraction" in res:
                roof.setdefault((res["test"], res["threads"]), []).append(res["roofline_fraction"])
            if "sustained_roofline_fraction" in res:
                sustained.setdefault((res["test"], res["threads"]), []).append(res["sustained_roofline_fraction"])
                start = [b["read_gb_per_s"] for b in data.get("bandwidth", []) if b["threads"] == res["threads"]]
                runs.append((res["test"], res["threads"], int(re.search(r"-r(\d+)-", name).group(1)),
                             res["tokens_per_s"]["mean"], start[0] if start else 0, res.get("roofline_fraction", 0),
                             res["sustained_read_gb_per_s"], res["sustained_roofline_fraction"]))
    else:
        for res in data:
            llama_build = "%s (%s)" % (res.get("build_commit", "?"), res.get("build_number", "?"))
            d = res.get("n_depth", 0)
            if res["n_gen"] > 0:
                test = "tg%d" % res["n_gen"]
            else:
                test = "pp%d" % res["n_prompt"]
            if d > 0:
                test += "@d%d" % d
            add(tool, test, res["n_threads"], res["samples_ts"])
    rss_path = os.path.join(out, name + ".rss")
    if os.path.exists(rss_path):
        try:
            kb = int(open(rss_path).read().split()[-1])
            rss[(tool, threads)] = max(rss.get((tool, threads), 0), kb)
        except (ValueError, IndexError):
            pass

def order(key):
    test, threads = key
    m = re.match(r"(pp|tg)(\d+)(?:@d(\d+))?", test)
    return (threads, m.group(1) != "pp", int(m.group(3) or 0)) if m else (threads, 2, 0)

if llama_label:
    llama_build = llama_label
if llama_args:
    llama_build += " (llama-bench %s)" % llama_args
keys = sorted({(k[1], k[2]) for k in samples if (("retort",) + k[1:]) in samples and (("llama",) + k[1:]) in samples}, key=order)
size = os.path.getsize(model)
# The rounds in the folder, not $ROUNDS: ROUNDS=0 reprints an earlier run's.
rounds = max([int(m.group(1)) for m in (re.search(r"-r(\d+)-t\d+\.json$", p) for p in glob.glob(os.path.join(out, "*.json"))) if m]
             or [0])
print("### %s\n" % os.path.basename(model))
load = ("; 1-min load average before the runs %.1f-%.1f on %d CPUs" % (min(loads), max(loads), os.cpu_count())
        if loads else "")
print("%s, %.2f GiB; %s; retort %s; llama.cpp %s; %s rounds x %s reps per tool, alternating, each run after "
      "its own warm-up%s. Tokens/s: mean (min-max) over all repetitions.\n"
      % (datetime.date.today().isoformat(), size / 2**30, cpu, commit, llama_build, rounds, reps, load))
print("| test | threads | retort t/s | llama.cpp t/s | retort / llama.cpp | retort roofline |"
      + (" retort of sustained |" if sustained else ""))
print("|---|---|---|---|---|---|" + ("---|" if sustained else ""))
for test, threads in keys:
    a = samples[("retort", test, threads)]
    b = samples[("llama", test, threads)]
    ma, mb = statistics.mean(a), statistics.mean(b)
    rf = roof.get((test, threads))
    rf_s = "%.0f%%" % (100 * statistics.mean(rf)) if rf else ""
    sf = sustained.get((test, threads))
    sf_s = (" %.0f%% |" % (100 * statistics.mean(sf)) if sf else " |") if sustained else ""
    print("| %s | %d | %.2f (%.2f-%.2f) | %.2f (%.2f-%.2f) | %.2fx | %s |%s"
          % (test, threads, ma, min(a), max(a), mb, min(b), max(b), ma / mb, rf_s, sf_s))
if runs:
    # The VM's read bandwidth moves between states from run to run: one line per run tells them apart.
    print("\nretort's tg runs one by one: the two probes' read bandwidth and the run's fraction of each roofline:\n")
    print("| test | threads | round | retort t/s | start probe | interleaved probe |")
    print("|---|---|---|---|---|---|")
    for test, threads, rnd, tps, bw, frac, sbw, sfrac in sorted(runs, key=lambda r: (order(r[:2]), r[2])):
        print("| %s | %d | %d | %.2f | %.1f GB/s (%.0f%%) | %.1f GB/s (%.0f%%) |"
              % (test, threads, rnd, tps, bw, 100 * frac, sbw, 100 * sfrac))
if rss:
    print("\nPeak RSS of the bench processes (max over runs; llama-bench sizes its context for the largest test):\n")
    print("| threads | retort | llama-bench |")
    print("|---|---|---|")
    for t in sorted({k[1] for k in rss}):
        f = lambda kb: "%.0f MiB" % (kb / 1024) if kb else "?"
        print("| %d | %s | %s |" % (t, f(rss.get(("retort", t), 0)), f(rss.get(("llama", t), 0))))
print("\nRaw JSON and logs: %s" % out)
EOF
