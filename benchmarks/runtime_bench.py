"""Benchmark the GGUF runtime on generated llama models of several sizes.

For each model (shape x weight type) it measures, every figure in a fresh subprocess:

* memory, at each context size, driving the worst case a deployment allows: a prompt
  that fills the context (llama.cpp's prompt-processing buffers, attention scores above
  all, grow with the context and are only touched by a long prompt; a short one barely
  moves RSS). Reported: RSS after importing llama_cpp (the process baseline), after
  loading, after a short request, and the peak (VmHWM) after the long one.
  Next to it the decision core's prediction (tierwise.sizing.estimate_gguf, when it
  can be imported) and the error, (predicted - measured) / measured.
* throughput: load time and generated tokens per second through the Lambda handler
  against llama-cpp-python called directly, same process, same model file, same
  sampling (greedy), rotating rounds; buffered and streamed (server-sent events, as
  the Lambda runtime sends them), with the time to the first token; the handler should
  keep >= 95 % of direct either way.

Usage:
    python benchmarks/runtime_bench.py                  # full run, tables
    python benchmarks/runtime_bench.py --json           # the same, JSON on stdout
    python benchmarks/runtime_bench.py --shapes 10M --contexts 512 --quants Q8_0   # quick

The models come from tests/gguf_factory.py (random weights, byte-level vocabulary
padded to a realistic size). This script measures; it does not calibrate anything.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUNTIME_DIR = REPO / "tiers" / "gguf_runtime" / "image"
MIB = 2**20


@dataclass(frozen=True)
class Shape:
    name: str
    n_layers: int
    n_embd: int
    n_head: int
    n_head_kv: int
    n_ff: int
    vocab_size: int

    def factory_kwargs(self) -> dict:
        kwargs = asdict(self)
        kwargs.pop("name")
        return kwargs

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    def kv_bytes(self, n_ctx: int) -> int:
        """f16 K and V for every layer and position (llama.cpp's default cache type)."""
        return 2 * self.n_layers * n_ctx * self.n_head_kv * self.head_dim * 2


SHAPES = {
    s.name: s
    for s in (
        Shape("10M", n_layers=6, n_embd=256, n_head=4, n_head_kv=2, n_ff=768, vocab_size=8000),
        Shape("50M", n_layers=8, n_embd=512, n_head=8, n_head_kv=4, n_ff=1408, vocab_size=32000),
        Shape("125M", n_layers=12, n_embd=768, n_head=12, n_head_kv=4, n_ff=2048, vocab_size=32000),
    )
}
QUANTS = ("Q8_0", "F16")
CONTEXTS = (512, 2048, 4096)


# ---------------------------------------------------------------------------- children


def _rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def _peak_rss() -> int:
    """This process's peak RSS: VmHWM of its own address space.

    Not getrusage's ru_maxrss: Linux carries the high-water mark of the address space
    that execve replaces into the new program's ru_maxrss, and subprocess spawns with
    vfork, whose address space is the parent's. A child started by a parent that had
    just generated a 240 MB model reported the parent's peak, whatever it did itself.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _filling_prompt(llm, n_tokens: int) -> str:
    """Text that tokenizes to exactly n_tokens with the byte vocabulary ("a" is one token)."""
    overhead = len(llm.tokenize(b"a", add_bos=True, special=True)) - 1
    text = "a" * (n_tokens - overhead)
    got = len(llm.tokenize(text.encode(), add_bos=True, special=True))
    if got != n_tokens:
        raise RuntimeError(f"prompt builder: wanted {n_tokens} tokens, got {got}")
    return text


def child_memory(model: str, n_ctx: int, threads: int, gen_tokens: int) -> dict:
    rss_start = _rss()
    sys.path.insert(0, str(RUNTIME_DIR))
    import llama_cpp  # noqa: F401 - the import is what is being measured
    import gguf_serving

    rss_import = _rss()
    engine = gguf_serving.Engine(gguf_serving.RuntimeConfig(
        model_path=model, n_ctx=n_ctx, n_threads=threads, max_tokens_default=gen_tokens, fallback_model_dirs=()))
    started = time.perf_counter()
    engine.load()
    load_s = time.perf_counter() - started
    rss_loaded = _rss()

    status, short = gguf_serving.handle({"prompt": "Hello there", "max_tokens": gen_tokens, "temperature": 0},
                                        engine=engine)
    assert status == 200, short
    rss_short, peak_short = _rss(), _peak_rss()

    prompt_tokens = n_ctx - gen_tokens
    prompt = _filling_prompt(engine.llm, prompt_tokens)
    engine.llm.reset()  # no prefix reuse: the whole prompt is processed, as for a new user
    started = time.perf_counter()
    status, long = gguf_serving.handle({"prompt": prompt, "max_tokens": gen_tokens, "temperature": 0},
                                       engine=engine)
    long_s = time.perf_counter() - started
    assert status == 200, long
    assert long["usage"]["prompt_tokens"] == prompt_tokens, long["usage"]
    return {
        "rss_start_bytes": rss_start,
        "rss_import_bytes": rss_import,
        "rss_loaded_bytes": rss_loaded,
        "rss_short_bytes": rss_short,
        "peak_short_bytes": peak_short,
        "rss_after_long_bytes": _rss(),
        "peak_rss_bytes": _peak_rss(),
        "load_s": load_s,
        "long_prompt_tokens": long["usage"]["prompt_tokens"],
        "long_request_s": long_s,
        "prompt_tokens_per_s": long["usage"]["prompt_tokens"] / long_s,
    }


def child_throughput(model: str, n_ctx: int, threads: int, gen_tokens: int, rounds: int) -> dict:
    os.environ.update({"MODEL_PATH": model, "N_CTX": str(n_ctx), "N_THREADS": str(threads)})
    sys.path.insert(0, str(RUNTIME_DIR))
    import importlib.util

    import llama_cpp

    started = time.perf_counter()
    direct = llama_cpp.Llama(model_path=model, n_ctx=n_ctx, n_batch=512, n_threads=threads,
                             n_threads_batch=threads, verbose=False)
    direct_load_s = time.perf_counter() - started

    spec = importlib.util.spec_from_file_location("runtime_handler", RUNTIME_DIR / "handler.py")
    handler = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(handler)
    import gguf_serving

    prompt = "The benchmark prompt says hello to the model and waits."
    event = {"prompt": prompt, "max_tokens": gen_tokens, "temperature": 0, "top_p": 1.0}

    def via_handler() -> int:
        answer = handler.handler(event, None)
        return answer["usage"]["completion_tokens"]

    def via_direct() -> int:
        answer = direct.create_completion(prompt, max_tokens=gen_tokens, temperature=0, top_p=1.0,
                                          repeat_penalty=1.0, stop=[])
        return answer["usage"]["completion_tokens"]

    first_token_s: dict[str, list[float]] = {"direct_stream": [], "handler_stream": [], "handler": []}

    def via_direct_stream() -> int:
        started, tokens = time.perf_counter(), 0
        for chunk in direct.create_completion(prompt, max_tokens=gen_tokens, temperature=0, top_p=1.0,
                                              repeat_penalty=1.0, stop=[], stream=True):
            if tokens == 0:
                first_token_s["direct_stream"].append(time.perf_counter() - started)
            # llama-cpp-python yields one chunk per token of plain ASCII text, then one
            # carrying only the finish_reason
            tokens += chunk["choices"][0]["finish_reason"] is None
        return tokens

    def via_handler_stream() -> int:
        # what the Lambda runtime streams to the Runtime API: server-sent events, as bytes
        started, first, usage = time.perf_counter(), None, None
        reply = handler.handler({**event, "stream": True, "stream_options": {"include_usage": True}}, None)
        for piece in reply.stream_chunks():
            for line in piece.split(b"\n\n"):
                if not line.startswith(b"data: {"):
                    continue
                data = json.loads(line[len(b"data: "):])
                if first is None and data["choices"] and data["choices"][0].get("text"):
                    first = time.perf_counter() - started
                usage = data.get("usage") or usage
        first_token_s["handler_stream"].append(first)
        return usage["completion_tokens"]

    def via_handler_timed() -> int:
        started = time.perf_counter()
        tokens = via_handler()
        first_token_s["handler"].append(time.perf_counter() - started)  # buffered: all tokens at once
        return tokens

    via_handler()  # loads the model (timed by the engine) and warms up
    handler_load_s = gguf_serving.get_engine().state.load_seconds
    via_direct()
    calls = {"direct": via_direct, "handler": via_handler_timed, "direct_stream": via_direct_stream,
             "handler_stream": via_handler_stream}
    rates: dict[str, list[float]] = {name: [] for name in calls}
    # Rounds with the order rotating: on a shared machine the load changes from one
    # second to the next, and the calls of one round see nearly the same load.
    for i in range(rounds):
        order = list(calls.items())
        order = order[i % len(order):] + order[:i % len(order)]
        for name, call in order:
            started = time.perf_counter()
            tokens = call()
            elapsed = time.perf_counter() - started
            if tokens != gen_tokens:
                raise RuntimeError(f"{name}: generated {tokens} tokens, not {gen_tokens}")
            rates[name].append(tokens / elapsed)
    return {
        "direct_stream_tokens_per_s": statistics.median(rates["direct_stream"]),
        "handler_stream_tokens_per_s": statistics.median(rates["handler_stream"]),
        "stream_ratio": statistics.median(h / d for h, d in zip(rates["handler_stream"], rates["direct_stream"])),
        "direct_stream_first_token_s": statistics.median(first_token_s["direct_stream"]),
        "handler_stream_first_token_s": statistics.median(first_token_s["handler_stream"]),
        "handler_buffered_first_token_s": statistics.median(first_token_s["handler"]),
        "direct_load_s": direct_load_s,
        "handler_load_s": handler_load_s,
        "direct_tokens_per_s": statistics.median(rates["direct"]),
        "handler_tokens_per_s": statistics.median(rates["handler"]),
        "ratio": statistics.median(h / d for h, d in zip(rates["handler"], rates["direct"])),
        "direct_rounds": rates["direct"],
        "handler_rounds": rates["handler"],
    }


# ---------------------------------------------------------------------------- parent


def run_child(*args: str) -> dict:
    result = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"benchmark child {args} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def make_model(workdir: Path, shape: Shape, quant: str, n_ctx_train: int) -> Path:
    sys.path.insert(0, str(REPO))
    from tests.gguf_factory import write_tiny_llama

    path = workdir / f"bench-{shape.name}-{quant}-ctx{n_ctx_train}.gguf"
    if not path.exists():
        write_tiny_llama(path, **shape.factory_kwargs(), n_ctx_train=n_ctx_train, weight_type=quant,
                         embedding_type=quant, output_type=quant, name=f"bench-{shape.name}", seed=42)
    return path


def parameters(shape: Shape) -> int:
    sys.path.insert(0, str(REPO))
    from tests.gguf_factory import parameter_count

    return parameter_count(**shape.factory_kwargs())


def predict(path: Path, n_ctx: int) -> tuple[dict | None, str | None]:
    sys.path.insert(0, str(REPO))
    try:
        from tierwise.sizing import estimate_gguf
    except Exception as exc:  # not written yet, or broken: measure anyway
        return None, f"tierwise.sizing.estimate_gguf not importable ({type(exc).__name__}: {exc})"
    try:
        estimate = estimate_gguf(path, context=n_ctx)
    except Exception as exc:
        return None, f"estimate_gguf failed: {type(exc).__name__}: {exc}"
    return {k: int(getattr(estimate, k)) for k in ("total_bytes", "weights_bytes", "kv_cache_bytes",
                                                    "runtime_bytes")}, None


def mib(n: float | None) -> str:
    return "-" if n is None else f"{n / MIB:,.1f}"


def print_tables(report: dict) -> None:
    rows = report["memory"]
    header = ("shape", "params", "quant", "n_ctx", "file MiB", "KV MiB", "import MiB", "loaded MiB",
              "short pk MiB", "peak MiB", "pp tok/s", "pred MiB", "error %")
    table = [header]
    for r in rows:
        pred = r.get("predicted") or {}
        error = r.get("error_pct")
        table.append((r["shape"], f"{r['parameters'] / 1e6:.1f}M", r["quant"], str(r["n_ctx"]),
                      mib(r["file_bytes"]), mib(r["kv_bytes"]), mib(r["rss_import_bytes"]),
                      mib(r["rss_loaded_bytes"]), mib(r["peak_short_bytes"]), mib(r["peak_rss_bytes"]),
                      f"{r['prompt_tokens_per_s']:,.0f}", mib(pred.get("total_bytes")),
                      "-" if error is None else f"{error:+.1f}"))
    _print(table, "Peak memory, worst case: a prompt of n_ctx - gen tokens (RSS, MiB = 2^20 bytes)")
    if report.get("prediction_note"):
        print(f"prediction: {report['prediction_note']}")
    if report["throughput"]:
        table = [("shape", "quant", "n_ctx", "load direct s", "load handler s", "direct tok/s",
                  "handler tok/s", "handler/direct", "direct stream tok/s", "handler stream tok/s",
                  "stream handler/direct")]
        for r in report["throughput"]:
            table.append((r["shape"], r["quant"], str(r["n_ctx"]), f"{r['direct_load_s']:.3f}",
                          f"{r['handler_load_s']:.3f}", f"{r['direct_tokens_per_s']:,.1f}",
                          f"{r['handler_tokens_per_s']:,.1f}", f"{r['ratio'] * 100:.1f}%",
                          f"{r['direct_stream_tokens_per_s']:,.1f}", f"{r['handler_stream_tokens_per_s']:,.1f}",
                          f"{r['stream_ratio'] * 100:.1f}%"))
        _print(table, f"Generation throughput, {report['settings']['gen_tokens_throughput']} tokens greedy, "
                      f"medians of {report['settings']['rounds']} rounds; handler/direct is the median "
                      f"of the rounds' ratios (target: >= 95%)")
        table = [("shape", "quant", "direct stream s", "handler stream s", "handler buffered s")]
        for r in report["throughput"]:
            table.append((r["shape"], r["quant"], f"{r['direct_stream_first_token_s']:.3f}",
                          f"{r['handler_stream_first_token_s']:.3f}", f"{r['handler_buffered_first_token_s']:.3f}"))
        _print(table, "Time to first token (streamed: the first text chunk; buffered: the whole answer)")


def _print(table: list[tuple], title: str) -> None:
    widths = [max(len(str(row[i])) for row in table) for i in range(len(table[0]))]
    print(f"\n{title}")
    for n, row in enumerate(table):
        print("  ".join(str(c).rjust(w) for c, w in zip(row, widths)))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", default=",".join(SHAPES), help=f"comma list of {', '.join(SHAPES)}")
    parser.add_argument("--quants", default=",".join(QUANTS))
    parser.add_argument("--contexts", default=",".join(map(str, CONTEXTS)))
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--gen-tokens", type=int, default=8, help="tokens generated in the memory runs")
    parser.add_argument("--throughput-tokens", type=int, default=128)
    parser.add_argument("--throughput-ctx", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--no-throughput", action="store_true")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--workdir", type=Path, help="keep the generated models here (default: a temp dir)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of tables")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        kind, *rest = args.child
        if kind == "memory":
            model, n_ctx, threads, gen = rest
            result = child_memory(model, int(n_ctx), int(threads), int(gen))
        else:
            model, n_ctx, threads, gen, rounds = rest
            result = child_throughput(model, int(n_ctx), int(threads), int(gen), int(rounds))
        print(json.dumps(result))
        return 0

    shapes = [SHAPES[s] for s in args.shapes.split(",")]
    quants = args.quants.split(",")
    contexts = [int(c) for c in args.contexts.split(",")]
    log = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    with tempfile.TemporaryDirectory(prefix="tierwise-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        report = {"settings": {"threads": args.threads, "gen_tokens_memory": args.gen_tokens,
                               "gen_tokens_throughput": args.throughput_tokens, "rounds": args.rounds,
                               "cpu_count": os.cpu_count()},
                  "memory": [], "throughput": [], "prediction_note": None}
        for shape in shapes:
            for quant in quants:
                started = time.perf_counter()
                path = make_model(workdir, shape, quant, max(contexts + [args.throughput_ctx]))
                log(f"# {path.name}: {path.stat().st_size / MIB:.1f} MiB written in "
                    f"{time.perf_counter() - started:.1f} s")
                for n_ctx in [] if args.no_memory else contexts:
                    measured = run_child("memory", str(path), str(n_ctx), str(args.threads), str(args.gen_tokens))
                    predicted, note = predict(path, n_ctx)
                    report["prediction_note"] = report["prediction_note"] or note
                    row = {"shape": shape.name, "parameters": parameters(shape), "quant": quant, "n_ctx": n_ctx,
                           "file_bytes": path.stat().st_size, "kv_bytes": shape.kv_bytes(n_ctx), **measured,
                           "predicted": predicted,
                           "error_pct": None if predicted is None else
                           (predicted["total_bytes"] - measured["peak_rss_bytes"]) / measured["peak_rss_bytes"] * 100}
                    report["memory"].append(row)
                    log(f"#   n_ctx {n_ctx}: peak {mib(measured['peak_rss_bytes'])} MiB, "
                        f"predicted {mib(predicted and predicted['total_bytes'])} MiB")
                if not args.no_throughput:
                    result = run_child("throughput", str(path), str(args.throughput_ctx), str(args.threads),
                                       str(args.throughput_tokens), str(args.rounds))
                    result.update(shape=shape.name, quant=quant, n_ctx=args.throughput_ctx)
                    report["throughput"].append(result)
                    log(f"#   throughput: handler/direct {result['ratio'] * 100:.1f}% buffered, "
                        f"{result['stream_ratio'] * 100:.1f}% streamed")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_tables(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
