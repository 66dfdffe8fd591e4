"""The runtime's limits as configured: defaults that agree with the tiers, every environment
variable checked (one clear line naming it, never a traceback), and the JSON limits at
their edges."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import gguf_serving
import sagemaker_server
from gguf_serving import json_limits
from tests.runtime.runtime_support import RUNTIME_DIR


def test_the_default_generation_timeout_is_sagemakers_limit_less_the_tiers_margin():
    from tiers.gguf_runtime import generation_timeout_s
    from tierwise.facts import serverless_limits

    sagemaker_s = serverless_limits().invocation_timeout_s
    assert gguf_serving.DEFAULT_GENERATION_TIMEOUT_S == generation_timeout_s(sagemaker_s) == 57


def test_the_queue_and_hold_limits_follow_the_generation_timeout():
    config = gguf_serving.RuntimeConfig.from_env({"GENERATION_TIMEOUT_S": "120"})
    assert config.queue_wait_s == 120  # a request may wait as long as one generation may run
    assert config.hold_limit == 120 + 30  # plus a quarter, at least 10 s
    assert gguf_serving.RuntimeConfig.from_env({"GENERATION_TIMEOUT_S": "8"}).hold_limit == 18
    config = gguf_serving.RuntimeConfig.from_env({"QUEUE_TIMEOUT_S": "0", "HOLD_LIMIT_S": "70", "QUEUE_DEPTH": "0"})
    assert (config.queue_wait_s, config.hold_limit, config.queue_depth) == (0, 70, 0)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("GENERATION_TIMEOUT_S", "inf", "GENERATION_TIMEOUT_S=inf must be a number of seconds more than 0"),
    ("GENERATION_TIMEOUT_S", "0", "GENERATION_TIMEOUT_S=0 must be a number of seconds more than 0"),
    ("QUEUE_TIMEOUT_S", "-1", "QUEUE_TIMEOUT_S=-1 must be a number of seconds at least 0"),
    ("QUEUE_TIMEOUT_S", "soon", "QUEUE_TIMEOUT_S='soon' is not a number of seconds"),
    ("QUEUE_DEPTH", "-1", "QUEUE_DEPTH='-1' is not a whole number"),
    ("QUEUE_DEPTH", "9" * 40, "is not a whole number"),
    ("HOLD_LIMIT_S", "nan", "HOLD_LIMIT_S=nan must be a number of seconds more than 0"),
])
def test_bad_runtime_settings_are_one_line_naming_the_variable(name, value, message):
    with pytest.raises(gguf_serving.ConfigError) as caught:
        gguf_serving.RuntimeConfig.from_env({name: value})
    assert message in caught.value.message and "\n" not in caught.value.message
    assert len(caught.value.message) < 200


@pytest.mark.parametrize(("name", "value", "message"), [
    ("MAX_CONNECTIONS", "1", "MAX_CONNECTIONS=1 must be at least 2"),
    ("LISTEN_BACKLOG", "lots", "LISTEN_BACKLOG='lots' is not a whole number"),
    ("HEADER_TIMEOUT_S", "0", "HEADER_TIMEOUT_S=0 must be a number of seconds more than 0"),
    ("BODY_TIMEOUT_S", "-3", "BODY_TIMEOUT_S=-3 must be"),
    ("KEEPALIVE_TIMEOUT_S", "x", "KEEPALIVE_TIMEOUT_S='x' is not a number of seconds"),
    ("WRITE_TIMEOUT_S", "1e999", "WRITE_TIMEOUT_S=1e999 must be"),
    ("MAX_BODY_BYTES", "0", "MAX_BODY_BYTES=0 must be at least 1"),
    ("DRAIN_GRACE_S", "7200", "DRAIN_GRACE_S=7200 must be a number of seconds at least 0 and at most 3600"),
])
def test_bad_server_settings_are_one_line_naming_the_variable(name, value, message):
    with pytest.raises(gguf_serving.ConfigError) as caught:
        sagemaker_server.ServerLimits.from_env({name: value})
    assert message in caught.value.message


def test_server_settings_are_read_from_the_environment():
    limits = sagemaker_server.ServerLimits.from_env({"MAX_CONNECTIONS": "64", "LISTEN_BACKLOG": "256",
                                                     "HEADER_TIMEOUT_S": "2.5", "DRAIN_GRACE_S": "0"})
    assert (limits.max_connections, limits.listen_backlog, limits.header_timeout_s, limits.drain_grace_s) == \
        (64, 256, 2.5, 0)
    assert sagemaker_server.ServerLimits.from_env({}) == sagemaker_server.ServerLimits()


def test_a_queue_as_deep_as_the_connection_limit_refuses_to_start(chat_model):
    env = {**os.environ, "PYTHON": sys.executable, "MODEL_PATH": str(chat_model), "N_CTX": "256", "N_THREADS": "1",
           "SAGEMAKER_BIND_TO_PORT": "8089", "QUEUE_DEPTH": "64", "MAX_CONNECTIONS": "64"}
    result = subprocess.run(["sh", str(RUNTIME_DIR / "entrypoint.sh"), "serve"], cwd=RUNTIME_DIR, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    [line] = [line for line in result.stdout.splitlines() if "cannot start" in line]
    assert "QUEUE_DEPTH=64 must be below MAX_CONNECTIONS=64" in line
    assert "Traceback" not in result.stdout + result.stderr


def nested(depth: int) -> str:
    return '{"prompt": "Hi", "response_format": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


def test_json_limits_at_their_edges():
    # the body object itself is level 1
    assert json_limits.loads(nested(json_limits.MAX_JSON_DEPTH))
    with pytest.raises(gguf_serving.RequestError, match="at most 64 levels deep"):
        json_limits.loads(nested(json_limits.MAX_JSON_DEPTH + 1))
    with pytest.raises(gguf_serving.RequestError, match="at most 64 levels deep"):
        json_limits.check_depth(json.loads(nested(json_limits.MAX_JSON_DEPTH + 1)))  # an event, already decoded
    assert json_limits.loads('{"n": -99999999999999999999}')["n"] == -(10**20 - 1)
    with pytest.raises(gguf_serving.RequestError, match="a 21-digit integer"):
        json_limits.loads('{"n": 100000000000000000000}')


def test_long_values_are_not_echoed_back_whole():
    with pytest.raises(gguf_serving.RequestError) as caught:
        gguf_serving.parse_request({"prompt": "Hi", "max_tokens": "x" * 100_000})
    assert len(caught.value.message) < 200 and "100002 characters" in caught.value.message
    with pytest.raises(gguf_serving.RequestError) as caught:
        gguf_serving.parse_request({"prompt": "Hi", "y" * 100_000: 1})
    assert len(caught.value.message) < 800
