"""Root conftest: loads the conformance plugin (options, markers, fixtures) for `pytest suites` and `pytest tests`."""

pytest_plugins = ["fixtures.plugin"]
