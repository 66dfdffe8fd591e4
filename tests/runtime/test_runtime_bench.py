"""benchmarks/runtime_bench.py still runs end to end (smallest shape, one context)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.runtime.runtime_support import RUNTIME_DIR

BENCH = RUNTIME_DIR.parents[2] / "benchmarks" / "runtime_bench.py"


def test_benchmark_measures_the_worst_case_prompt(tmp_path):
    result = subprocess.run(
        [sys.executable, str(BENCH), "--json", "--shapes", "10M", "--quants", "Q8_0", "--contexts", "512",
         "--throughput-tokens", "16", "--throughput-ctx", "512", "--rounds", "1", "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    [row] = report["memory"]
    assert row["long_prompt_tokens"] == 512 - report["settings"]["gen_tokens_memory"]
    assert row["rss_import_bytes"] < row["rss_loaded_bytes"] <= row["peak_rss_bytes"]
    assert row["kv_bytes"] == 2 * 6 * 512 * 2 * 64 * 2
    [speed] = report["throughput"]
    assert speed["direct_tokens_per_s"] > 0 and speed["handler_tokens_per_s"] > 0
    assert speed["direct_stream_tokens_per_s"] > 0 and speed["handler_stream_tokens_per_s"] > 0
    # time to first token is measured on both paths (comparing them needs a quiet machine and
    # many rounds: the incremental delivery itself is tested in test_runtime_lambda_api.py)
    assert speed["handler_stream_first_token_s"] > 0 and speed["direct_stream_first_token_s"] > 0
