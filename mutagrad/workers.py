"""Kept for imports from before ``mutagrad.engine``: the local pool lives in engine.local."""

from mutagrad.engine.events import Done, Failed, WorkerStartError
from mutagrad.engine.local import Pool

__all__ = ["Done", "Failed", "Pool", "WorkerStartError"]
