"""Fault injection: temporary, audited, and always lifted (see ``manager`` and ``keeper``)."""

from stagedeck.faults.manager import FaultHandle, FaultManager
from stagedeck.faults.model import FaultKind, FaultSpec, parse_kind

__all__ = ["FaultHandle", "FaultKind", "FaultManager", "FaultSpec", "parse_kind"]
