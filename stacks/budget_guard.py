"""BudgetGuard: fail ``cdk synth`` when a stack's estimated monthly cost exceeds a budget.

A CDK policy-validation plugin (the interface cdk-nag 3.x implements), so it works in any CDK
app and reports the way cdk-nag does::

    cdk.Validations.of(app).add_plugins(BudgetGuard(max_monthly_usd=500))

After synthesis CDK hands the plugin every template; the guard prices each one with the cost
review (tierwise.cost.budget) and reports one violation per stack over budget, with one line
naming the stack, its estimated monthly cost and the budget. tierwise's app.py adds it when
``-c max_monthly_usd=N`` (or cdk.json's context) sets a budget; without one the guard is off
(tierwise/cost/budget.py says why).
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
import jsii

from tierwise.cost.assembly import StackTemplate, read_template
from tierwise.cost.budget import CONTEXT_KEY, check_budget
from tierwise.cost.prices import PriceBook
from tierwise.errors import TierwiseError
from tierwise.workload import Workload

RULE = "tierwise-budget"


@jsii.implements(cdk.IPolicyValidationPluginBeta1)
class BudgetGuard:
    """Validation plugin: every stack's estimated monthly cost must stay within ``max_monthly_usd``.

    ``workload`` (default: Workload()) drives usage-based lines; ``region`` prices stacks whose
    environment is not resolved (default us-east-1); ``prices`` a price book other than the
    embedded one.
    """

    def __init__(self, max_monthly_usd: float, *, workload: Workload | None = None, region: str | None = None,
                 prices: PriceBook | None = None) -> None:
        if not max_monthly_usd > 0:
            raise TierwiseError(f"BudgetGuard: max_monthly_usd must be greater than 0 (got {max_monthly_usd!r})")
        self.max_monthly_usd = float(max_monthly_usd)
        self.workload = workload or Workload()
        self.region = region or "us-east-1"
        self.prices = prices

    @property
    def name(self) -> str:
        return "tierwise-budget-guard"

    @property
    def version(self) -> str:
        return "1.0.0"

    @property
    def rule_ids(self) -> list[str]:
        return [RULE]

    def validate(self, context: cdk.IPolicyValidationContextBeta1) -> cdk.PolicyValidationPluginReportBeta1:
        violations = []
        try:
            stacks = [
                StackTemplate(name=Path(p).name.removesuffix(".template.json"), region=None, path=Path(p),
                              template=read_template(Path(p)))
                for p in context.template_paths
            ]
            findings = check_budget(stacks, self.max_monthly_usd, self.workload, self.region, self.prices)
        except TierwiseError as exc:  # reported like a finding rather than a stack trace from jsii
            return cdk.PolicyValidationPluginReportBeta1(success=False, violations=[cdk.PolicyViolationBeta1(
                rule_name=RULE, description=f"cannot estimate the cost: {exc}", violating_resources=[])])
        by_name = {s.name: s for s in stacks}
        for finding in findings:
            stack = by_name[finding.stack]
            culprit = finding.largest[0][0] if finding.largest else next(iter(stack.resources), "")
            violations.append(cdk.PolicyViolationBeta1(
                rule_name=RULE,
                description=finding.message(),
                fix=f"choose a cheaper tier or smaller workload, or raise -c {CONTEXT_KEY}",
                severity="error",
                violating_resources=[cdk.PolicyViolatingResourceBeta1(
                    resource_logical_id=culprit, template_path=str(stack.path), locations=["Properties"])],
            ))
        return cdk.PolicyValidationPluginReportBeta1(success=not violations, violations=violations)
