"""The CDK app: `cdk synth -c model=llama3-8b` (or model=all) plans each model's tier and
synthesizes its stack. Context keys: see stacks/app_context.py and the README."""

import sys

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.app_context import read
from stacks.budget_guard import BudgetGuard
from stacks.model_stack import ModelStack
from tierwise.cost.budget import CONTEXT_KEY, parse_budget
from tierwise.errors import UserError, report


def main(context: dict | None = None, outdir: str | None = None) -> cdk.App:
    """The app with one ModelStack per planned model (not yet synthesized)."""
    app = cdk.App(context=context, outdir=outdir)
    try:
        plans = read(app.node.get_all_context())
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
