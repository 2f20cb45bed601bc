"""ssmlab's pytest plugin: the ``ssm`` and ``smart_agent`` fixtures for integration tests
(``ssmlab_pytest.plugin``; registered as the ``ssmlab`` pytest11 entry point)."""

from ssmlab_pytest.clients import SSM, AdminAPI, SmartAgent

__all__ = ["SSM", "AdminAPI", "SmartAgent"]
