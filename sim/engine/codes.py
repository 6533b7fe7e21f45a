"""The enum members every message's path passes or compares, as module constants.

Reading a member from its enum class (``Cause.NONE``) goes through the enum metaclass's
``__getattr__`` hook in Python 3.11, about ten times the cost of a plain attribute; on the
per-message path of the compiled engine that was a tenth of a run's instructions. A constant
here is read once, at import. The names say their enum; the enums stay the registry.
"""

from __future__ import annotations

from typing import Final

from sim.engine.shapes import Answer
from sim.registry.causes import Cause, DupCause

CAUSE_NONE: Final = Cause.NONE
"""``Cause.NONE``: a copy ended without harm."""
DUP_NONE: Final = DupCause.NONE
"""``DupCause.NONE``: not a duplicate."""
DUP_CONSUMER_CRASH: Final = DupCause.CONSUMER_CRASH
"""``DupCause.CONSUMER_CRASH``: read again because a commit was still on its way at a crash."""
ANSWER_STORED: Final = Answer.STORED
"""``Answer.STORED``: the broker stored the attempt."""
ANSWER_DUPLICATE: Final = Answer.DUPLICATE
"""``Answer.DUPLICATE``: already stored, acked again (answers up to it are acks)."""
