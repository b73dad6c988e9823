"""The status list is the engine's: Python's ``Status`` enum and the
exception texts must say what the core says (one list, checked here)."""

from __future__ import annotations

import libcommit
from libcommit import _native


def test_status_enum_is_the_engine_list() -> None:
    engine = [(code, name) for code, name, _ in _native.STATUSES]
    assert [(int(s), s.name) for s in libcommit.Status] == engine


def test_every_status_has_the_engine_text() -> None:
    texts = {code: text for code, _, text in _native.STATUSES}
    assert texts[int(libcommit.Status.CORRUPT)] == "corrupt"
    assert len(set(texts.values())) == len(texts), "every status has its own text"
