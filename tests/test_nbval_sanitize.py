"""Every rule in notebooks/nbval_sanitize.cfg is one nbval actually applies.

nbval reads a rule only as ``regex: ...`` followed by ``replace: ...`` with a space after the
colon; a rule it cannot read is dropped without a word, and the notebooks then compare the
raw output again (a table padded for a 5-digit PID fails against a 4-digit one)."""

from __future__ import annotations

import re
from pathlib import Path

from nbval.plugin import get_sanitize_patterns

CONFIG = Path(__file__).resolve().parent.parent / "notebooks" / "nbval_sanitize.cfg"


def test_every_section_is_a_rule_nbval_reads() -> None:
    text = CONFIG.read_text()
    sections = re.findall(r"^\[([\w-]+)\]$", text, flags=re.MULTILINE)
    rules = get_sanitize_patterns(text)
    assert len(rules) == len(sections), f"{len(sections)} sections, nbval reads {len(rules)}"
    assert all(replace for _, replace in rules), "an empty replacement is not read either"


def test_table_padding_makes_column_widths_irrelevant() -> None:
    rules = get_sanitize_patterns(CONFIG.read_text())

    def sanitized(text: str) -> str:
        for regex, replace in rules:
            text = re.sub(regex, replace, text)
        return text

    four = "6                   by 4242@host  \n7  timer 12 ms"
    five = "6                     by 42421@host  \n7  timer 120 ms"
    assert sanitized(four) == sanitized(five)
    assert sanitized("state COMPLETED") != sanitized("state CANCELLED")
