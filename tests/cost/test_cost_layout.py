"""The cost subpackage's shape: the template review prices any CDK app, so it must not reach
into placement, the catalogue or the CDK; each resource type has exactly one pricer."""

from __future__ import annotations

import subprocess
import sys

from tierwise.cost import pricers

REVIEW_MODULES = ("assembly", "pricers", "report", "review", "render", "infracost", "usage", "budget")


def test_the_template_review_imports_neither_placement_nor_the_catalogue_nor_cdk():
    code = (
        "import sys\n"
        + "".join(f"import tierwise.cost.{m}\n" for m in REVIEW_MODULES)
        + "bad = sorted(m for m in sys.modules if m.startswith(('tierwise.placement', 'tierwise.throughput',"
        # model_profiles.errors (the exception tierwise.errors re-raises) is not the catalogue
        " 'tierwise.sizing', 'model_profiles.loader', 'model_profiles.schema', 'aws_cdk', 'stacks', 'tiers')))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_every_priced_type_has_one_pricer_and_free_types_have_none():
    types = pricers.priced_types()
    assert {"AWS::Lambda::Function", "AWS::SageMaker::EndpointConfig", "Custom::BedrockProvisionedThroughput",
            "AWS::Bedrock::ApplicationInferenceProfile", "AWS::S3::Bucket", "AWS::KMS::Key",
            "AWS::CloudWatch::Alarm", "AWS::Logs::LogGroup"} <= set(types)
    assert not set(types) & pricers.FREE_TYPES
    assert not pricers.is_free("Custom::BedrockProvisionedThroughput") and pricers.is_free("Custom::Anything")
    import pytest

    with pytest.raises(ValueError, match="already has a pricer"):
        pricers.pricer("AWS::KMS::Key")(lambda ctx, lid, res: None)
