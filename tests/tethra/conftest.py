"""The worker tests drive runtimes built by the graph test harness."""

from tests.graph.conftest import open_rt, thread

__all__ = ["open_rt", "thread"]
