"""What a deployment costs, one job per module.

- ``prices``: the price file (tierwise/data/prices.yaml) as typed data, and its Price List refresh
- ``estimates``: a tier's monthly cost from its settings and the workload, and tier comparison
- ``review``: the cost of any synthesized CDK assembly, read from its templates
- ``cli`` / ``compare_cli``: the ``tierwise cost``, ``refresh-prices`` and ``compare`` commands
"""
