#!/usr/bin/env python3
"""Continuous-batching benchmark for `retort serve` (a benchmark, not a test: CTest never runs it).

Starts `retort serve` on a loopback port, then for each stream count N (default 1 2 4 8 16) runs
N clients at once, each streaming `--requests` completions of `--max-tokens` tokens back to back
(ignore_eos, so every request generates exactly that many). It reports, per N:

  agg tok/s   generated tokens of all clients / wall time of the phase
  TTFT        request sent -> first token chunk (p50, p99), queueing and prefill included
  ITL         between consecutive token chunks of one stream (p50, p99)

and the ratio of 8-stream to 1-stream aggregate throughput. Decoding is memory-bound on a CPU:
one batched step reads the weights once for all N sequences, so the aggregate grows with N
until compute (or the attention over N contexts) takes over.

Typical use, with a synthetic model of R1-Distill-Qwen-1.5B's shapes:
  retort synth --preset r1-distill-qwen-1.5b --type Q4_K_M \\
      --vocab tests/data/vocab/ggml-vocab-r1-distill-qwen.gguf -o /tmp/r1-1.5b.gguf
  tests/server/bench_serve.py --retort build/release/retort -m /tmp/r1-1.5b.gguf --threads 2

Only the standard library; only loopback traffic; every loop is bounded.
"""
import argparse
import http.client
import json
import re
import statistics
import subprocess
import sys
import threading
import time


def percentile(values, q):
    if not values:
        return float("nan")
    v = sorted(values)
    k = (len(v) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def stream_completion(port, prompt, max_tokens, seed):
    """One streamed completion; returns (t_sent, [t_chunk...], n_tokens) with chunk arrival times."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    body = json.dumps({"prompt": prompt, "max_tokens": max_tokens, "temperature": 0.7, "seed": seed,
                       "ignore_eos": True, "stream": True, "stream_options": {"include_usage": True}})
    t0 = time.perf_counter()
    conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"HTTP {resp.status}: {resp.read()[:300]!r}")
    times, n_tokens, buf = [], 0, b""
    while True:
        chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(1)
        if not chunk:
            break
        now = time.perf_counter()
        buf += chunk
        while b"\n\n" in buf:
            event, buf = buf.split(b"\n\n", 1)
            if not event.startswith(b"data: "):
                continue
            data = event[6:]
            if data == b"[DONE]":
                conn.close()
                return t0, times, n_tokens
            obj = json.loads(data)
            if obj.get("usage"):
                n_tokens = obj["usage"]["completion_tokens"]
            elif obj["choices"] and obj["choices"][0].get("finish_reason") is None:
                times.append(now)  # one chunk per generated token (text may be held back: rare)
    conn.close()
    return t0, times, n_tokens


def run_phase(port, n_streams, requests_per_stream, max_tokens, prompt):
    ttft, itl, tokens, errors = [], [], [0], []
    lock = threading.Lock()

    def client(i):
        for r in range(requests_per_stream):
            try:
                t0, times, n = stream_completion(port, f"{prompt} ({i}.{r})", max_tokens, seed=i * 1000 + r)
            except Exception as e:  # noqa: BLE001 - reported, and the phase counts it
                with lock:
                    errors.append(repr(e))
                continue
            with lock:
                tokens[0] += n
                if times:
                    ttft.append(times[0] - t0)
                    itl.extend(b - a for a, b in zip(times, times[1:]))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n_streams)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    return {"streams": n_streams, "requests": n_streams * requests_per_stream, "tokens": tokens[0],
            "wall_s": wall, "agg_tok_s": tokens[0] / wall if wall > 0 else 0.0,
            "ttft_p50_ms": 1000 * percentile(ttft, 0.5), "ttft_p99_ms": 1000 * percentile(ttft, 0.99),
            "itl_p50_ms": 1000 * percentile(itl, 0.5), "itl_p99_ms": 1000 * percentile(itl, 0.99),
            "errors": len(errors), "first_error": errors[0] if errors else None}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--retort", default="build/release/retort", help="the retort binary")
    ap.add_argument("-m", "--model", default="", help="GGUF model (default: the embedded stories260K)")
    ap.add_argument("--threads", type=int, default=0, help="engine threads (0: all cores)")
    ap.add_argument("--streams", default="1,2,4,8,16", help="comma-separated stream counts")
    ap.add_argument("--requests", type=int, default=2, help="requests each stream sends back to back")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--ctx", type=int, default=512, help="context per sequence")
    ap.add_argument("--batch", type=int, default=256, help="token budget per step (retort serve -b)")
    ap.add_argument("--prompt", default="Once upon a time, in a small village by the sea, there lived an old "
                                         "fisherman who told stories to the children every evening.")
    ap.add_argument("--json", default="", help="also write the results here")
    args = ap.parse_args()

    streams = [int(s) for s in args.streams.split(",")]
    cmd = [args.retort, "serve", "--port", "0", "--parallel", str(max(streams)), "--ctx", str(args.ctx),
           "--max-queue", "64", "-b", str(args.batch), "--no-prefix-cache"]
    if args.model:
        cmd += ["-m", args.model]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    server = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    port, log = None, []
    try:
        deadline = time.time() + 600
        while time.time() < deadline:
            line = server.stderr.readline()
            if not line:
                raise RuntimeError("retort serve exited:\n" + "".join(log))
            log.append(line)
            if port is None:
                m = re.search(r"listening on http://[0-9.]+:(\d+)", line)
                if m:
                    port = int(m.group(1))
            if "ready:" in line:
                break
        else:
            raise RuntimeError("retort serve was not ready within 10 minutes")
        # Keep draining the server's log so it never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
        print("".join(log).rstrip(), file=sys.stderr)

        run_phase(port, 1, 1, 8, args.prompt)  # warm-up: page the weights in
        results = []
        for n in streams:
            r = run_phase(port, n, args.requests, args.max_tokens, args.prompt)
            results.append(r)
            print(f"streams {n:3d}: {r['agg_tok_s']:8.2f} tok/s  TTFT p50 {r['ttft_p50_ms']:8.1f} ms "
                  f"p99 {r['ttft_p99_ms']:8.1f} ms  ITL p50 {r['itl_p50_ms']:7.1f} ms p99 {r['itl_p99_ms']:7.1f} ms"
                  f"  ({r['tokens']} tokens in {r['wall_s']:.1f} s, {r['errors']} errors)", file=sys.stderr)
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()

    base = next((r for r in results if r["streams"] == 1), None)
    print("\n| streams | aggregate tok/s | vs 1 stream | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms | errors |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        ratio = r["agg_tok_s"] / base["agg_tok_s"] if base and base["agg_tok_s"] else float("nan")
        print(f"| {r['streams']} | {r['agg_tok_s']:.2f} | {ratio:.2f}x | {r['ttft_p50_ms']:.0f} | "
              f"{r['ttft_p99_ms']:.0f} | {r['itl_p50_ms']:.1f} | {r['itl_p99_ms']:.1f} | {r['errors']} |")
    eight = next((r for r in results if r["streams"] == 8), None)
    if base and eight and base["agg_tok_s"]:
        print(f"\n8-stream / 1-stream aggregate throughput: {eight['agg_tok_s'] / base['agg_tok_s']:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"command": cmd, "max_tokens": args.max_tokens, "requests_per_stream": args.requests,
                       "results": results}, f, indent=2)
    return 1 if any(r["errors"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
