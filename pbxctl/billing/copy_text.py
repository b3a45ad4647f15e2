"""Classifying a slice of a cdr_csv file in a worker process and writing PostgreSQL COPY
text for it, so big imports use every core. Pure apart from being run elsewhere."""

from __future__ import annotations

from dataclasses import dataclass, field

from pbxctl.billing.records import Classifier, Quarantined, StoredCdr, classify_lines

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


@dataclass
class ChunkResult:
    """A slice's rows as COPY text lines (with their keys), and its quarantined lines."""

    lines: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)
    outbound: int = 0
    unrated: int = 0


NULL = "\\N"
_TABS = 22  # 23 columns


def _text(value: str | None) -> str:
    return NULL if value is None else value.translate(_ESCAPES)


def _copy_line(r: StoredCdr) -> str:
    """One stored row (the STORED_COLUMNS order) as a COPY text line.

    Values almost never hold a tab, backslash or line break, so the line is built plainly
    and escaped field by field only when one shows up.
    """
    line = "\t".join([NULL if v is None else str(v) for v in r])
    if (line.count("\t") == _TABS and line.count("\\") == r.count(None)
            and "\n" not in line and "\r" not in line):
        return line + "\n"
    return "\t".join([_text(v) if isinstance(v, str) or v is None else str(v)
                      for v in r]) + "\n"


def classify_chunk(lines: list[str], first_line: int, node: str,
                   classifier: Classifier) -> ChunkResult:
    """Classify and rate ``lines``; one COPY text line per stored row, keys unique."""
    result = ChunkResult()
    seen: set[str] = set()
    for item in classify_lines(lines, first_line, node, classifier):
        if isinstance(item, Quarantined):
            result.quarantined.append(item)
            continue
        key = item.key
        if key in seen:
            continue
        seen.add(key)
        result.keys.append(key)
        result.outbound += item[14] == "outbound"
        result.lines.append(_copy_line(item))
    result.unrated = classifier.unrated
    return result


# What forked workers classify: set by the parent just before it forks them, so the file's
# lines and the rate book are inherited instead of pickled for every slice.
_shared: tuple[list[str], str, Classifier] | None = None


def share_with_workers(shared: tuple[list[str], str, Classifier] | None) -> None:
    """Hand (lines, node, classifier) to the worker processes forked after this call;
    None lets the parent forget the file again."""
    global _shared
    _shared = shared


def classify_shared_slice(start: int, stop: int) -> ChunkResult:
    """In a forked worker: classify lines [start, stop) of the shared file."""
    assert _shared is not None, "share_with_workers() was not called before forking"
    lines, node, classifier = _shared
    return classify_chunk(lines[start:stop], start + 1, node, classifier)
