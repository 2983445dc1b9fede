"""``ballwatch batch``: many recordings through ``app.run``, resumably, locally or on Ray.

A composition-level package like ``stream/app.py``: it drives whole runs, so it imports
from perception and overlays through ``app``. Ray is imported only in ``ray_runner``;
``command.run_batch`` (heavy: torch) is imported by the CLI when the command runs.
"""

from stream.batch.arguments import add_batch_arguments
from stream.batch.inputs import Recording, expand_inputs
from stream.batch.plan import Chunk, plan_chunks
from stream.batch.status import BatchStatus, StatusSnapshot, WorkerStatus, status_numbers

__all__ = [
    "BatchStatus",
    "Chunk",
    "Recording",
    "StatusSnapshot",
    "WorkerStatus",
    "add_batch_arguments",
    "expand_inputs",
    "plan_chunks",
    "status_numbers",
]
