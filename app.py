"""The CDK app: `cdk synth -c model=llama3-8b` (or model=all) plans each model's tier and
synthesizes its stack. Context keys: see stacks/app_context.py and the README."""

import sys

from tierwise.node import silence_tested_end_of_life_node

silence_tested_end_of_life_node()  # before aws_cdk starts jsii, which reads it once

import aws_cdk as cdk  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402

from stacks.app_context import read  # noqa: E402
from stacks.budget_guard import BudgetGuard  # noqa: E402
from stacks.model_stack import ModelStack  # noqa: E402
from tierwise.cost.budget import CONTEXT_KEY, parse_budget  # noqa: E402
from tierwise.errors import UserError, report  # noqa: E402


def main(context: dict | None = None, outdir: str | None = None) -> cdk.App:
    """The app with one ModelStack per planned model (not yet synthesized)."""
    app = cdk.App(context=context, outdir=outdir)
    try:
        plans = read(app.node.get_all_context())
        # off unless -c max_monthly_usd (or cdk.json) sets one: tierwise/cost/budget.py says why
        budget = parse_budget(app.node.try_get_context(CONTEXT_KEY))
        env = cdk.Environment(account=plans.account, region=plans.region) if plans.region else None
        for stack in plans.stacks:
            ModelStack(app, stack.stack_id, placement=stack.placement, env=env, **stack.options)
    except UserError as exc:
        sys.exit(report(exc))
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    if budget is not None and plans.stacks:
        guard = BudgetGuard(budget, workload=plans.stacks[0].placement.workload, region=plans.region)
        cdk.Validations.of(app).add_plugins(guard)
    return app


if __name__ == "__main__":
    main().synth()
