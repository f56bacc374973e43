"""XPath regular expressions (what FEEL's `matches`, `replace` and `split` take) as Python's.

The two languages agree on most patterns; this module rewrites where they differ:
- `.` does not match a carriage return either (XPath), unless flag s;
- `$` is the end of the text, not also the place before a final newline, unless flag m;
- flag x removes whitespace from the pattern (outside character classes), and `#` is no comment;
- flag q takes the pattern literally;
- character class subtraction `[a-z-[aeiou]]` becomes a lookahead;
- `\\p{Lu}`, `\\P{L}` (Unicode categories) and `\\p{IsBasicLatin}` (blocks) become classes;
- a back-reference inside a character class, or `\\0`, is an error, as XPath has it.

A pattern that is not valid gives None, and the FEEL function null.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata

# Unicode blocks that `\p{Is...}` may name, by their XML Schema names.
_BLOCKS = {
    "BasicLatin": (0x0000, 0x007F),
    "Latin-1Supplement": (0x0080, 0x00FF),
    "LatinExtended-A": (0x0100, 0x017F),
    "LatinExtended-B": (0x0180, 0x024F),
    "IPAExtensions": (0x0250, 0x02AF),
    "Greek": (0x0370, 0x03FF),
    "GreekandCoptic": (0x0370, 0x03FF),
    "Cyrillic": (0x0400, 0x04FF),
    "Hebrew": (0x0590, 0x05FF),
    "Arabic": (0x0600, 0x06FF),
    "GeneralPunctuation": (0x2000, 0x206F),
    "CurrencySymbols": (0x20A0, 0x20CF),
    "Hiragana": (0x3040, 0x309F),
    "Katakana": (0x30A0, 0x30FF),
    "CJKUnifiedIdeographs": (0x4E00, 0x9FFF),
}
_FLAGS = {"s": re.S, "m": re.M, "i": re.I}
# Patterns longer than this are refused: a model's pattern is short, and translation is linear.
PATTERN_CHARS_MAX = 10_000


class _Invalid(Exception):
    pass


@functools.lru_cache(maxsize=256)
def compile_xpath(pattern: str, flags: str) -> re.Pattern[str] | None:
    if len(pattern) > PATTERN_CHARS_MAX or any(f not in "smixq" for f in flags):
        return None
    combined = 0
    for flag in flags:
        combined |= _FLAGS.get(flag, 0)
    try:
        python = re.escape(pattern) if "q" in flags else _translate(pattern, "s" in flags, "m" in flags, "x" in flags)
        return re.compile(python, combined)
    except (_Invalid, re.error, RecursionError):
        return None


def _translate(pattern: str, dotall: bool, multiline: bool, extended: bool) -> str:
    if extended:
        pattern = _without_whitespace(pattern)
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            escape, i = _escape(pattern, i, in_class=False)
            out.append(escape)
        elif c == "[":
            group, i = _class(pattern, i)
            out.append(group)
        elif c == "." and not dotall:
            out.append("[^\\n\\r]")
            i += 1
        elif c == "$" and not multiline:
            out.append("\\Z")
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _without_whitespace(pattern: str) -> str:
    out: list[str] = []
    depth = 0
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern) and not pattern[i + 1].isspace():
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if c == "[":
            depth += 1
        elif c == "]" and depth:
            depth -= 1
        if depth or not c.isspace():
            out.append(c)
        i += 1
    return "".join(out)


def _escape(pattern: str, i: int, in_class: bool) -> tuple[str, int]:
    """The escape at pattern[i] (a backslash) in Python's syntax, and where it ends."""
    if i + 1 >= len(pattern):
        raise _Invalid
    d = pattern[i + 1]
    if d.isdigit():
        if in_class or d == "0":
            raise _Invalid
        return "\\" + d, i + 2
    if d in "pP":
        end = pattern.find("}", i)
        if pattern[i + 2 : i + 3] != "{" or end < 0:
            raise _Invalid
        ranges = _property(pattern[i + 3 : end])
        if in_class:
            if d == "P":
                raise _Invalid  # a complement inside a class has no Python spelling
            return ranges, end + 1
        return f"[{'^' if d == 'P' else ''}{ranges}]", end + 1
    return pattern[i : i + 2], i + 2


def _class(pattern: str, i: int) -> tuple[str, int]:
    """The character class at pattern[i] ('['), with XPath's subtraction, and where it ends."""
    out = ["["]
    i += 1
    if pattern[i : i + 1] == "^":
        out.append("^")
        i += 1
    first = True
    while i < len(pattern):
        c = pattern[i]
        if c == "]" and not first:
            return "".join(out) + "]", i + 1
        if c == "-" and pattern[i + 1 : i + 2] == "[":
            subtracted, i = _class(pattern, i + 1)
            if pattern[i : i + 1] != "]":
                raise _Invalid
            return f"(?:(?!{subtracted}){''.join(out)}])", i + 1
        if c == "\\":
            escape, i = _escape(pattern, i, in_class=True)
            out.append(escape)
        elif c == "[":
            out.append("\\[")  # a literal bracket, which Python would read as a nested set
            i += 1
        else:
            out.append(c)
            i += 1
        first = False
    raise _Invalid


def _property(name: str) -> str:
    """The members of a Unicode category (`Lu`, `L`) or block (`IsBasicLatin`) as class body."""
    if name.startswith("Is"):
        block = _BLOCKS.get(name[2:])
        if block is None:
            raise _Invalid
        return f"\\u{block[0]:04x}-\\u{block[1]:04x}" if block[1] <= 0xFFFF else f"\\U{block[0]:08x}-\\U{block[1]:08x}"
    if not re.fullmatch(r"[A-Z][a-z]?", name):
        raise _Invalid
    ranges = _category_ranges(name)
    if not ranges:
        raise _Invalid
    return ranges


@functools.lru_cache(maxsize=64)
def _category_ranges(category: str) -> str:
    """All code points of a general category (`Lu`) or of its group (`L`) as class ranges."""
    runs = [run for name, found in _category_runs().items() if name.startswith(category) for run in found]
    return "".join(_range_text(start, end) for start, end in sorted(runs))


@functools.lru_cache(maxsize=1)
def _category_runs() -> dict[str, list[tuple[int, int]]]:
    """Runs of code points with the same two-letter category: one pass over Unicode (a few
    hundred milliseconds), made the first time a pattern names a category."""
    runs: dict[str, list[tuple[int, int]]] = {}
    category = unicodedata.category
    current, start = category("\x00"), 0
    for code in range(1, sys.maxunicode + 1):
        found = category(chr(code))
        if found != current:
            runs.setdefault(current, []).append((start, code - 1))
            current, start = found, code
    runs.setdefault(current, []).append((start, sys.maxunicode))
    return runs


def _range_text(start: int, end: int) -> str:
    def char(code: int) -> str:
        return f"\\U{code:08x}"

    return char(start) if start == end else f"{char(start)}-{char(end)}"
