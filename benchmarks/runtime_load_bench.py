"""Load-test the GGUF runtime's SageMaker door, and time the tokenizer against prompt length.

Load: the image's entrypoint (``serve``) runs in a child process with a tiny real GGUF
(tests/gguf_factory.py) and its default limits; 1, 10, 100 and 200 concurrent clients
(httpx, one kept-alive connection each) send completion requests one after another. A
client that gets 429 or 503 waits the Retry-After it was given and sends the same
request again, as the OpenAI SDKs do. Reported per level: requests, how many were
refused at first (429/503, each with Retry-After), dropped (a reset, a refused
connection, a timeout, a 5xx without Retry-After: must be 0), mixed up (an answer that
is not the one its request gets alone: must be 0), latency p50/p99 from the first
attempt to the answer, and throughput (answers per second of wall time).

Mix-ups are caught against references: before the load, each of a pool of prompts
(distinct texts and lengths) is answered alone, greedily; under load every answer must
equal its prompt's reference.

Tokenization: llama.cpp's tokenizer time grows faster than linearly with the text on
the byte-level vocabulary (issue 20 measured 13-17 s for 400,000 characters). Reported:
the time per text kind and length, and where the runtime's prompt cap (n_ctx x the
longest token's bytes) puts the longest prompt that reaches the tokenizer.

Usage:
    python benchmarks/runtime_load_bench.py                       # the full run, tables
    python benchmarks/runtime_load_bench.py --json                # the same, JSON on stdout
    python benchmarks/runtime_load_bench.py --clients 1,4 --requests 2 --tokenize-lengths 1000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUNTIME_DIR = REPO / "tiers" / "gguf_runtime" / "image"
CLIENTS = (1, 10, 100, 200)
TOKENIZE_LENGTHS = (1_000, 5_000, 10_000, 20_000, 40_000)
N_CTX = 512
# n_ctx values at which the bench says how long the longest prompt the cap admits takes
CAP_CONTEXTS = (4096, 8192)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_model(workdir: Path) -> Path:
    sys.path.insert(0, str(REPO))
    from tests.gguf_factory import SIMPLE_CHAT_TEMPLATE, write_tiny_llama

    return write_tiny_llama(workdir / "load-tiny.gguf", chat_template=SIMPLE_CHAT_TEMPLATE, n_ctx_train=N_CTX,
                            weight_type="Q8_0", embedding_type="F16", norm_type="F32", seed=7)


class Server:
    """The SageMaker door as SageMaker runs it: ``entrypoint.sh serve``, its defaults."""

    def __init__(self, model: Path, threads: int):
        self.port = free_port()
        env = {**os.environ, "PYTHON": sys.executable, "MODEL_PATH": str(model), "N_CTX": str(N_CTX),
               "N_THREADS": str(threads), "SAGEMAKER_BIND_TO_PORT": str(self.port), "LOG_LEVEL": "WARNING"}
        self.process = subprocess.Popen(["sh", str(RUNTIME_DIR / "entrypoint.sh"), "serve"], cwd=RUNTIME_DIR,
                                        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 120.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: {self.process.stdout.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/ping", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the server never became ready")

    def health(self) -> dict:
        import httpx

        return httpx.get(f"{self.url}/ping", timeout=30).json()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def request_pool(size: int) -> list[dict]:
    """Prompts of distinct lengths (so every answer differs at least in its prompt_tokens)."""
    rng = random.Random(11)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    return [{"prompt": f"Request {i:03d}: " + "x" * i + " " + " ".join(rng.choice(words) for _ in range(1 + i % 5)),
             "max_tokens": 4 + i % 13, "temperature": 0} for i in range(size)]


def fingerprint(answer: dict) -> tuple:
    """What identifies an answer: its text and its token counts."""
    return (answer["choices"][0]["text"], answer["usage"]["prompt_tokens"], answer["usage"]["completion_tokens"])


def references(url: str, pool: list[dict]) -> list[tuple]:
    import httpx

    with httpx.Client(timeout=60) as client:
        return [fingerprint(client.post(f"{url}/v1/completions", json=body).json()) for body in pool]


def run_level(url: str, pool: list[dict], expected: list[tuple], clients: int, requests: int) -> dict:
    import httpx

    results: list[dict] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients)

    def client_loop(c: int) -> None:
        mine = []
        with httpx.Client(timeout=httpx.Timeout(120.0, connect=60.0)) as client:
            barrier.wait()
            for r in range(requests):
                k = (c * requests + r) % len(pool)
                started, attempts, refusals = time.perf_counter(), 0, []
                outcome = {"k": k}
                while True:
                    attempts += 1
                    try:
                        answer = client.post(f"{url}/v1/completions", json=pool[k])
                    except httpx.HTTPError as exc:  # a reset, a refused connection, a timeout
                        outcome.update(dropped=f"{type(exc).__name__}: {exc}")
                        break
                    retry_after = answer.headers.get("retry-after")
                    if answer.status_code in (429, 503) and retry_after:
                        refusals.append(answer.status_code)
                        time.sleep(int(retry_after))
                        continue
                    if answer.status_code != 200:
                        outcome.update(dropped=f"HTTP {answer.status_code}: {answer.text[:200]}")
                        break
                    outcome.update(answer=fingerprint(answer.json()))
                    break
                outcome.update(seconds=time.perf_counter() - started, attempts=attempts, refusals=refusals)
                mine.append(outcome)
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=client_loop, args=(c,)) for c in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    answered = [r for r in results if "answer" in r]
    latencies = sorted(r["seconds"] for r in answered)
    refusals = [code for r in results for code in r["refusals"]]
    return {
        "clients": clients,
        "requests": len(results),
        "answered": len(answered),
        "refused_first": sum(1 for r in results if r["refusals"]),
        "refusals_429": refusals.count(429),
        "refusals_503": refusals.count(503),
        "dropped": sum(1 for r in results if "dropped" in r),
        "drop_examples": [r["dropped"] for r in results if "dropped" in r][:3],
        "mixed_up": sum(1 for r in answered if r["answer"] != expected[r["k"]]),
        "p50_s": statistics.median(latencies) if latencies else None,
        "p99_s": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else None,
        "max_s": latencies[-1] if latencies else None,
        "wall_s": wall,
        "answers_per_s": len(answered) / wall,
    }


def tokenize_times(model: Path, lengths: list[int], cap_contexts: list[int]) -> dict:
    """Tokenizer time per text kind and length, in this process, with the runtime's own engine."""
    sys.path.insert(0, str(RUNTIME_DIR))
    import gguf_serving

    engine = gguf_serving.Engine(gguf_serving.RuntimeConfig(model_path=str(model), n_ctx=N_CTX, n_threads=1,
                                                            fallback_model_dirs=()))
    llm = engine.load()
    rng = random.Random(5)
    kinds = {
        "letters": lambda n: "a" * n,
        "words": lambda n: ("lorem ipsum " * (n // 12 + 1))[:n],
        "spaces": lambda n: " " * n,
        "mixed_utf8": lambda n: "".join(rng.choice("abc déf 漢字\n") for _ in range(n)),
    }
    rows = []
    for kind, make in kinds.items():
        for length in lengths:
            text = _utf8_prefix(make(length), length)
            started = time.perf_counter()
            tokens = llm.tokenize(text, add_bos=True, special=True)
            rows.append({"kind": kind, "bytes": len(text), "tokens": len(tokens),
                         "seconds": time.perf_counter() - started})
    request = gguf_serving.parse_request({"prompt": "a" * 10**6})
    started = time.perf_counter()
    try:
        engine.check_fits(request)
    except gguf_serving.RequestError:
        pass
    refuse_s = time.perf_counter() - started
    longest = engine.longest_token_bytes
    caps = {}
    for n_ctx in cap_contexts:
        cap = n_ctx * longest
        times = {kind: _time_one(llm, _utf8_prefix(make(cap), cap)) for kind, make in kinds.items()}
        worst = max(times, key=times.get)
        caps[n_ctx] = {"cap_bytes": cap, "worst_kind": worst, "seconds": times[worst]}
    return {"longest_token_bytes": longest, "rows": rows, "refuse_1mb_s": refuse_s, "at_cap": caps}


def _utf8_prefix(text: str, n_bytes: int) -> bytes:
    return text.encode("utf-8")[:n_bytes].decode("utf-8", "ignore").encode("utf-8")


def _time_one(llm, text: bytes) -> float:
    started = time.perf_counter()
    llm.tokenize(text, add_bos=True, special=True)
    return time.perf_counter() - started


def print_report(report: dict) -> None:
    settings = report["settings"]
    print(f"\nLoad on the SageMaker door (entrypoint serve, default limits; tiny GGUF, n_ctx {N_CTX}, "
          f"{settings['threads']} thread(s), {settings['cpu_count']} CPUs; {settings['requests']} requests "
          f"per client; {settings['pool']} distinct prompts, {settings['distinct_references']} distinct answers)")
    header = ("clients", "requests", "answered", "refused 1st", "429s", "503s", "dropped", "mixed up",
              "p50 s", "p99 s", "max s", "answers/s")
    table = [header]
    for r in report["load"]:
        table.append((r["clients"], r["requests"], r["answered"], r["refused_first"], r["refusals_429"],
                      r["refusals_503"], r["dropped"], r["mixed_up"], f"{r['p50_s']:.3f}", f"{r['p99_s']:.3f}",
                      f"{r['max_s']:.3f}", f"{r['answers_per_s']:.1f}"))
    _print(table)
    for r in report["load"]:
        for example in r["drop_examples"]:
            print(f"  dropped at {r['clients']} clients: {example}")
    tok = report["tokenize"]
    print(f"\nTokenizer time against prompt length (byte-level vocabulary, longest token "
          f"{tok['longest_token_bytes']} bytes)")
    kinds = sorted({r["kind"] for r in tok["rows"]})
    lengths = sorted({r["bytes"] for r in tok["rows"] if r["kind"] == "letters"})
    table = [("bytes", *kinds)]
    for length in lengths:
        cells = []
        for kind in kinds:
            row = min((r for r in tok["rows"] if r["kind"] == kind), key=lambda r: abs(r["bytes"] - length))
            cells.append(f"{row['seconds'] * 1000:,.1f} ms")
        table.append((f"{length:,}", *cells))
    _print(table)
    for n_ctx, cap in tok["at_cap"].items():
        print(f"prompt cap at n_ctx {n_ctx}: {cap['cap_bytes']:,} bytes; the slowest text kind at the cap "
              f"({cap['worst_kind']}) tokenizes in {cap['seconds'] * 1000:,.0f} ms")
    print(f"refusing a 1,000,000-byte prompt at the cap takes {tok['refuse_1mb_s'] * 1e6:,.0f} µs "
          f"(the byte count; no tokenizing)")


def _print(table: list[tuple]) -> None:
    widths = [max(len(str(row[i])) for row in table) for i in range(len(table[0]))]
    for n, row in enumerate(table):
        print("  ".join(str(c).rjust(w) for c, w in zip(row, widths)))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default=",".join(map(str, CLIENTS)))
    parser.add_argument("--requests", type=int, default=5, help="requests each client sends, one after another")
    parser.add_argument("--pool", type=int, default=64, help="distinct prompts (answered alone first)")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--tokenize-lengths", default=",".join(map(str, TOKENIZE_LENGTHS)))
    parser.add_argument("--cap-contexts", default=",".join(map(str, CAP_CONTEXTS)),
                        help="n_ctx values at which to time the longest prompt the cap admits")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of tables")
    args = parser.parse_args(argv)
    log = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    levels = [int(c) for c in args.clients.split(",")]
    with tempfile.TemporaryDirectory(prefix="tierwise-load-") as tmp:
        model = write_model(Path(tmp))
        server = Server(model, args.threads)
        try:
            server.wait_ready()
            pool = request_pool(args.pool)
            expected = references(server.url, pool)
            report = {"settings": {"threads": args.threads, "cpu_count": os.cpu_count(), "requests": args.requests,
                                   "pool": len(pool), "distinct_references": len(set(expected)), "n_ctx": N_CTX},
                      "load": []}
            for clients in levels:
                result = run_level(server.url, pool, expected, clients, args.requests)
                report["load"].append(result)
                log(f"# {clients} clients: {result['answered']}/{result['requests']} answered, "
                    f"{result['dropped']} dropped, {result['mixed_up']} mixed up, p99 {result['p99_s']:.3f} s")
            health = server.health()
            report["server_queue"], report["server_speed"] = health["queue"], health["speed"]
        finally:
            server.stop()
        report["tokenize"] = tokenize_times(model, [int(n) for n in args.tokenize_lengths.split(",")],
                                            [int(n) for n in args.cap_contexts.split(",")])
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 1 if any(r["dropped"] or r["mixed_up"] for r in report["load"]) else 0


if __name__ == "__main__":
    sys.exit(main())
