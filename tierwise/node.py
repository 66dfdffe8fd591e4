"""Quiet jsii on the Node.js line tierwise is tested on.

jsii (the bridge aws-cdk-lib runs on) prints an eleven-line banner, as Python byte strings, on
every run under a Node.js line past its end of life. The README asks for Node 22 or 24; this
project's CI runs Node 20, which works, so the app (app.py) and the CLI add the lines
tierwise/data/toolchain.yaml `silenced` lists to JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION
before jsii starts. Any other unsupported line still gets jsii's warning.
"""

from __future__ import annotations

import os

JSII_SILENCE = "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"


def silence_tested_end_of_life_node() -> None:
    """Add the tested end-of-life Node lines to jsii's silence list (a comma-separated list of
    major versions), keeping whatever the environment already lists."""
    from tierwise.facts import node_support

    listed = [v.strip() for v in os.environ.get(JSII_SILENCE, "").split(",") if v.strip()]
    wanted = listed + [str(v) for v in node_support().silenced if str(v) not in listed]
    os.environ[JSII_SILENCE] = ",".join(wanted)
