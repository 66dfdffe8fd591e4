"""The facts tierwise decides from: every figure lives once, with its source and date, in a YAML
file in tierwise/data, read through one typed accessor here (validated on first read: a missing
or misspelt field is one error naming the file and the field, never a silent default).

One module per subject: `aws` (limits, containers, Bedrock models, JumpStart), `gpu` (instances
and what an engine keeps), `speed` (recipes, the speed model, published measurements),
`tier_data` (batch, asynchronous and imported-model tiers, quotas, cold starts, S3 weights).
`base.load(name)` remains for the sizing tables whose readers validate what they take.
"""

from __future__ import annotations

from tierwise.facts.base import _Fact, _typed, load  # noqa: F401
from tierwise.facts.aws import *  # noqa: F401,F403
from tierwise.facts.gpu import *  # noqa: F401,F403
from tierwise.facts.speed import *  # noqa: F401,F403
from tierwise.facts.tier_data import *  # noqa: F401,F403
