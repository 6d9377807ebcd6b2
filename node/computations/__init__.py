"""Running agreed computations across the nodes: plan, inputs, run protocol, results.

``Computations`` (runner.py) is the entry point: ``start(manifest_id)`` at the proposer,
``on_session`` for runs other nodes start, ``wait``/``run``/``result`` to follow them. Its parts:
``control.py`` (the control messages' transition table), ``channels.py`` (a run's sessions,
dialled on demand), ``execute.py`` (a party's checks and program), ``lifecycle.py`` (runs in
flight and how each ends), ``progress.py`` (phase and percentage). The run protocol is specified
in docs/spec/run-protocol.md.
"""

from node.computations.results import Result, RunRecord, RunStore
from node.computations.runner import Computations, RunAbortedError

__all__ = ["Computations", "Result", "RunAbortedError", "RunRecord", "RunStore"]
