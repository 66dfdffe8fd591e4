def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "deploy: runs the CDK CLI (bootstrap, deploy, update, destroy) against a local moto server; "
        "part of the default run, select alone with -m deploy",
    )
