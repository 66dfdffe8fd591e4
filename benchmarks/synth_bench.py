"""How long synthesis takes: one model, every model (model=all), and how it grows with stacks.

    python benchmarks/synth_bench.py [--repeat 3] [--cli]

Each measurement is a fresh process, as `cdk synth` runs the app: Python start-up, imports,
planning, building the constructs, jsii/node and writing the cloud assembly. `--cli` also
times the pinned CDK CLI (node_modules/.bin/cdk synth), which adds its own start-up.
The growth is fitted as seconds = fixed + per_stack x stacks (least squares).
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = "20"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra or {})
    return env


def _timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return elapsed


def app_py(context: dict, repeat: int) -> float:
    """Median seconds of `python app.py` with this context."""
    times = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as out:
            env = _env({"CDK_OUTDIR": out, "CDK_CONTEXT_JSON": json.dumps(context)})
            times.append(_timed([sys.executable, "app.py"], env))
    return statistics.median(times)


def first_k(k: int, repeat: int) -> float:
    """Median seconds of a process that synthesizes the first k catalogue models' stacks."""
    times = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as out:
            times.append(_timed([sys.executable, __file__, "--synth-first", str(k), "--outdir", out], _env()))
    return statistics.median(times)


def cli(model: str, repeat: int) -> float | None:
    binary = ROOT / "node_modules" / ".bin" / "cdk"
    if not binary.exists():
        return None
    times = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as out:
            command = [str(binary), "synth", "--quiet", "--output", out, "-c", f"model={model}", "-c", f"region={REGION}"]
            times.append(_timed(command, _env({"CDK_DISABLE_CLI_TELEMETRY": "true"})))
    return statistics.median(times)


def _synth_first(k: int, outdir: str) -> None:
    """Child process: build and synthesize k stacks the way app.py does (with cdk-nag)."""
    sys.path.insert(0, str(ROOT))
    import aws_cdk as cdk
    from cdk_nag import AwsSolutionsChecks

    from model_profiles import load_catalogue
    from stacks.app_context import stack_id
    from stacks.model_stack import ModelStack
    from tierwise.placement import plan

    app = cdk.App(outdir=outdir)
    for profile in list(load_catalogue().values())[:k]:
        ModelStack(app, stack_id(profile.name), placement=plan(profile, region=REGION),
                   env=cdk.Environment(region=REGION))
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()


def fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x in xs)
    return mean_y - slope * mean_x, slope


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (the median is shown)")
    parser.add_argument("--cli", action="store_true", help="also time the pinned CDK CLI")
    parser.add_argument("--synth-first", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--outdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.synth_first is not None:
        _synth_first(args.synth_first, args.outdir)
        return

    sys.path.insert(0, str(ROOT))
    from model_profiles import load_catalogue

    total = len(load_catalogue())
    print(f"synthesis time, median of {args.repeat} fresh processes ({os.cpu_count()} CPUs)")
    one = app_py({"model": "llama3-8b", "region": REGION}, args.repeat)
    every = app_py({"model": "all", "region": REGION}, args.repeat)
    print(f"  python app.py -c model=llama3-8b       {one:6.2f} s")
    print(f"  python app.py -c model=all ({total} stacks) {every:6.2f} s")
    if args.cli:
        for label, model in (("llama3-8b", "llama3-8b"), (f"all ({total} stacks)", "all")):
            seconds = cli(model, args.repeat)
            if seconds is None:
                print("  cdk synth: the pinned CDK CLI is not installed (npm install)")
                break
            print(f"  cdk synth -c model={label:<18} {seconds:6.2f} s")

    counts = sorted({1, 2, 4, 8, total} - {0})
    counts = [k for k in counts if k <= total]
    points = [(k, first_k(k, args.repeat)) for k in counts]
    print("\ngrowth with the number of stacks (first k catalogue models)")
    print("  stacks  seconds  per stack")
    for k, seconds in points:
        print(f"  {k:6d}  {seconds:7.2f}  {seconds / k:9.2f}")
    fixed, per_stack = fit(points)
    print(f"\n  fit: {fixed:.2f} s fixed (start-up, imports, jsii, first synth) + {per_stack:.2f} s per stack")


if __name__ == "__main__":
    main()
