"""The CDK app as `cdk synth` builds it: the repository's cdk.json context (the default model and
the feature flags, such as `@aws-cdk/core:enablePartitionLiterals`) under the `-c` keys a test
gives. The CLI merges cdk.json into the context; `app.main(context)` alone would not, so a stack
test that skipped it would synthesize a template no user gets."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CDK_JSON_CONTEXT: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text(encoding="utf-8"))["context"]


def synth_context(context: Mapping[str, Any]) -> dict[str, Any]:
    """cdk.json's context with `context` (the test's `-c key=value`s) over it."""
    return {**CDK_JSON_CONTEXT, **context}
