"""The runtime benchmarks still run end to end, on their smallest settings."""

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


LOAD_BENCH = RUNTIME_DIR.parents[2] / "benchmarks" / "runtime_load_bench.py"


def test_load_benchmark_reports_every_level_with_nothing_dropped_or_mixed_up():
    result = subprocess.run(
        [sys.executable, str(LOAD_BENCH), "--json", "--clients", "1,8", "--requests", "2", "--pool", "16",
         "--tokenize-lengths", "1000,2000", "--cap-contexts", "256"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["settings"]["distinct_references"] == 16  # a swapped answer cannot go unseen
    assert [level["clients"] for level in report["load"]] == [1, 8]
    for level in report["load"]:
        assert level["requests"] == 2 * level["clients"] == level["answered"]
        assert level["dropped"] == 0 and level["mixed_up"] == 0
        assert 0 < level["p50_s"] <= level["p99_s"] and level["answers_per_s"] > 0
    tokenize = report["tokenize"]
    assert tokenize["longest_token_bytes"] == 5
    assert {row["kind"] for row in tokenize["rows"]} == {"letters", "words", "spaces", "mixed_utf8"}
    assert tokenize["at_cap"]["256"]["cap_bytes"] == 256 * 5 and tokenize["at_cap"]["256"]["seconds"] > 0
