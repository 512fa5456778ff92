"""Where a trial came from: sampled by the study, or designed by hand (the model designer)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

__all__ = ["DESIGNED", "ORIGIN_ATTR", "SAMPLED", "designed_mask", "is_designed", "trial_origin"]

#: trial user attribute naming a trial's origin; absent on trials the sampler proposed
ORIGIN_ATTR = "origin"
#: its value for a trial added by hand (the model designer), not sampled
DESIGNED = "designed"
#: what :func:`trial_origin` says of a trial with no origin attribute
SAMPLED = "sampled"


def trial_origin(user_attrs: Mapping[str, Any]) -> str:
    """A trial's origin from its user attributes: ``designed`` or ``sampled``."""
    origin = user_attrs.get(ORIGIN_ATTR)
    return origin if isinstance(origin, str) and origin else SAMPLED


def is_designed(user_attrs: Mapping[str, Any]) -> bool:
    """True for a trial added by hand."""
    return trial_origin(user_attrs) == DESIGNED


def designed_mask(origins: Iterable[Any]) -> np.ndarray:
    """Bool per trial: added by hand, given each trial's stored origin (None where absent), e.g.
    the ``origin`` column of a :class:`~workbench.study.StudyIndex`."""
    return np.array([o == DESIGNED for o in origins], dtype=bool)
