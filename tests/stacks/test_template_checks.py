"""cfn-lint and cdk-nag over every synthesized template."""

from __future__ import annotations

from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint

from tests.stacks.conftest import REGION, Synthesis, build_app

# W3005 "dependency already enforced": aws-cdk-lib itself adds DependsOn on a role it also
# references (lambda.Function with a given role, the custom_resources Provider framework);
# redundant, harmless, and not ours to remove.
IGNORED_LINT_RULES = {"W3005"}
MIN_REASON_CHARS = 60


def test_cfn_lint_reports_no_error_and_no_warning(synthesis: Synthesis):
    problems = []
    for name in sorted(synthesis.placements):
        text = (synthesis.outdir / f"{name}.template.json").read_text()
        for match in lint(text, config=ManualArgs(regions=[REGION])):
            if match.rule.id not in IGNORED_LINT_RULES:
                problems.append(f"{name}: {match.rule.id} {match.message} ({'/'.join(map(str, match.path))})")
    assert problems == []


def test_cdk_nag_finds_nothing_unacknowledged(synthesis: Synthesis):
    # through the plugin's own validation result: Annotations no longer sees cdk-nag 3.x findings
    report = AwsSolutionsChecks().validate_scope(synthesis.app)
    found = [
        f"{v.rule_name}: {[r.construct_path for r in v.violating_resources]}" for v in report.violations
    ]
    assert found == [] and report.success


def _acknowledgments(app) -> dict[tuple[str, str], str]:
    import aws_cdk as cdk

    out = {}
    for construct in app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                for rule, reason in entry.data.items():
                    out[(construct.node.path, rule)] = reason
    return out


def test_every_acknowledgment_gives_a_reason(synthesis: Synthesis):
    acks = _acknowledgments(synthesis.app)
    assert acks, "the stacks acknowledge at least the Provider framework's findings"
    for (path, rule), reason in acks.items():
        assert rule.startswith("Annotation::AwsSolutions-"), (path, rule)
        assert len(reason) >= MIN_REASON_CHARS, f"{path} {rule}: reason too short: {reason!r}"


def test_no_acknowledgment_is_stale(synthesis: Synthesis, monkeypatch, tmp_path):
    """Each acknowledgment answers a finding that is raised without it: build the same stacks
    with acknowledging switched off and compare."""
    import tiers.bedrock_batch.construct
    import tiers.bedrock_custom.construct
    import tiers.buckets
    import tiers.provider
    import tiers.sagemaker_async.construct
    import tiers.sagemaker_endpoint
    import tiers.security

    # tiers.security too: acknowledge_wildcard_resource acknowledges through it (and
    # tiers.provider's acknowledge_provider for the provisioned-throughput and import handlers)
    for module in (tiers.sagemaker_endpoint, tiers.buckets, tiers.bedrock_batch.construct,
                   tiers.sagemaker_async.construct, tiers.security, tiers.provider, tiers.bedrock_custom.construct):
        monkeypatch.setattr(module, "acknowledge", lambda *args, **kwargs: None)
    unacknowledged, _ = build_app(tmp_path / "cdk.out")
    raised = {
        (resource.construct_path, violation.rule_name)
        for violation in AwsSolutionsChecks().validate_scope(unacknowledged).violations
        for resource in violation.violating_resources
    }
    stale = [
        (path, rule)
        for path, rule in ((p, r.removeprefix("Annotation::")) for p, r in _acknowledgments(synthesis.app))
        if not any(rule == found_rule and (found_path + "/").startswith(path + "/") for found_path, found_rule in raised)
    ]
    assert stale == []
    assert raised, "without acknowledgments cdk-nag does raise the findings they answer"
