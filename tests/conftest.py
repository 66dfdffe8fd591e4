"""The whole suite runs on the Node.js line CI has (20, past its end of life), as the app and the
CLI do: jsii's end-of-life banner is silenced the same way, before any test starts jsii."""

from tierwise.node import silence_tested_end_of_life_node

silence_tested_end_of_life_node()


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "readme: runs the README's commands in a fresh copy of the repository (minutes: a dozen `cdk synth`s); "
        "part of the default run, skip while iterating with -m 'not readme'",
    )
