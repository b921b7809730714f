"""Triage: what a broken environment says about where to look first. Pure functions, no UI.

Which service (or the test data, or the test itself) is at fault, and why.
``conditions`` colours the graph (root failure / down / impacted).

Pure functions over records (no Textual, no I/O in the ranking):

* :func:`rank_environment` answers "what is most likely at fault right now?";
* :func:`explain_failure` answers "why did this test fail?".

Both take a :class:`~stagedeck.triage.model.History` snapshot (see
:mod:`stagedeck.triage.snapshot` to take one from a live engine) and return a
:class:`~stagedeck.triage.model.Ranking`. A running engine keeps its current
ranking in ``monitor_for(engine)`` (:class:`~stagedeck.triage.live.TriageMonitor`),
which tells its subscribers with :class:`~stagedeck.triage.model.SuspectsChanged`.
"""

from stagedeck.triage.model import (
    ChangeRecord,
    Evidence,
    EvidenceKind,
    FailedTest,
    Fault,
    History,
    LogRecord,
    ProbeKind,
    ProbeRecord,
    Question,
    Ranking,
    SeedRecord,
    ServiceRecord,
    SubjectKind,
    Suspect,
    SuspectsChanged,
    TransitionRecord,
    View,
    Where,
    ranking_from_rows,
)
from stagedeck.triage.rank import explain_failure, rank_environment

__all__ = [
    "ChangeRecord",
    "Evidence",
    "EvidenceKind",
    "FailedTest",
    "Fault",
    "History",
    "LogRecord",
    "ProbeKind",
    "ProbeRecord",
    "Question",
    "Ranking",
    "SeedRecord",
    "ServiceRecord",
    "SubjectKind",
    "Suspect",
    "SuspectsChanged",
    "TransitionRecord",
    "View",
    "Where",
    "explain_failure",
    "rank_environment",
    "ranking_from_rows",
]
