"""What a deployment costs, one reason to change per module.

Price data and bills (shared by placement and the review):
- ``prices``: the price file (tierwise/data/prices.yaml) as typed data, and its lookups
- ``refresh``: rewriting the price file from the AWS Price List API
- ``bills``: one function per thing AWS bills; tier modules and pricers build their lines with them
- ``estimates``: a plan's monthly bill (its tier module's lines and the stack's key and alarms)
- ``compare``: tiers side by side, cost lines in requests per month, break-evens

The template review (any CDK app's ``cdk synth`` output; never imports placement):
- ``assembly``: reading cloud assemblies, checking templates, reading CloudFormation values
- ``pricers``: one pricer per resource type, in a registry
- ``report``: the priced result and its totals (Infracost's rule: known parts summed, unknown flagged)
- ``usage``: usage files (requests, tokens per request, per stack or resource)
- ``review``: assembly -> pricers -> report
- ``infracost``: Infracost JSON out, saved JSON back in, and the diff of two
- ``render``: the breakdown and diff as a terminal table and as Markdown
- ``budget``: which stacks exceed a monthly budget (the synth-time guard is stacks/budget_guard.py)

Commands: ``cli`` (``cost``, ``cost diff``, ``refresh-prices``) and ``compare_cli`` (``compare``).
"""
