"""Helm's ``--set`` family, applied the way the helm CLI applies it: onto the values merged so far.

A port of helm's ``pkg/strvals/parser.go`` (helm v4.3 / v3.17, identical in what is ported here:
https://github.com/helm/helm/blob/main/pkg/strvals/parser.go) and of the order in
``pkg/cli/values/options.go`` ``MergeValues``: ``-f`` files deep-merged in order, then every
``--set-json``, then ``--set``, ``--set-string``, ``--set-file``, each parsed *into* the merged map.
That is why ``-f v.yaml --set 'a[1].b=x'`` patches element 1 of the list from ``v.yaml`` and keeps
element 0, where parsing the ``--set`` alone and deep-merging it would replace the whole list.

Rules kept from the Go code, quirks included (the parity tests in tests/chart/test_helm_cli.py
compare with the real CLI): ``\\`` escapes the next character in keys and values (``a\\.b`` is one
key); ``{x,y}`` is a list; ``null`` (any case) is stored as null, and Helm's coalescing then deletes
the key from the chart's defaults; ``true``/``false`` any case; integers without a leading zero
become int64, anything else (``1.5``, ``007``) stays a string; an index past the end pads the list
with nulls; writing through a key whose value is not a map (or a list, for ``[i]``) is an error,
as Helm's failed type assertion is; a set line ending inside an index (``a[1``) is silently
ignored, as in Helm.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

MAX_INDEX = 65536           # strvals.MaxIndex
MAX_NESTED_NAME_LEVEL = 30  # strvals.MaxNestedNameLevel
_INT64 = re.compile(r"[+-]?[0-9]+")
_NUMBER_PREFIX = re.compile(r"-?(?:0|[1-9][0-9]*)(?P<frac>\.[0-9]+)?(?P<exp>[eE][-+]?[0-9]+)?")

Reader = Callable[[str], Any]


class StrvalsError(ValueError):
    """A set line helm refuses; ``eof`` marks the errors helm's parse loop treats as the end."""

    def __init__(self, message: str, *, eof: bool = False):
        super().__init__(message)
        self.eof = eof


_EOF = StrvalsError("EOF", eof=True)


def _fold_equal(value: str, word: str) -> bool:
    """Go's strings.EqualFold against an ASCII word (simple folding: 'ſ' folds to 's')."""
    return len(value) == len(word) and all(
        c.lower() == w or (w == "s" and c == "\u017f") for c, w in zip(value, word))


def typed_value(value: str) -> Any:
    """strvals.typedVal: what ``--set k=value`` stores."""
    if _fold_equal(value, "true"):
        return True
    if _fold_equal(value, "false"):
        return False
    if _fold_equal(value, "null"):
        return None
    if value == "0":
        return 0
    if value and value[0] != "0" and _INT64.fullmatch(value):
        number = int(value)
        if -(2 ** 63) <= number < 2 ** 63:
            return number
    return value


# unicode.IsSpace: in Latin-1 exactly these; above it the White_Space property.
_GO_SPACE = frozenset("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
                      + "".join(chr(c) for c in range(0x2000, 0x200B)))


def _go_isspace(r: str) -> bool:
    return r in _GO_SPACE


class _Scanner:
    """A rune reader over the set line (Go's bytes.Buffer with ReadRune/UnreadRune)."""

    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def read(self) -> str | None:
        if self.pos >= len(self.text):
            return None
        self.pos += 1
        return self.text[self.pos - 1]

    def unread(self) -> None:
        self.pos -= 1

    def until(self, stop: str) -> tuple[str, str | None]:
        """runesUntil: the text up to a stop rune (``\\`` escapes); raises EOF with what it read."""
        out = []
        while True:
            r = self.read()
            if r is None:
                raise _EofWith("".join(out))
            if r in stop:
                return "".join(out), r
            if r == "\\":
                nxt = self.read()
                if nxt is None:
                    raise _EofWith("".join(out))
                out.append(nxt)
            else:
                out.append(r)


class _EofWith(Exception):
    def __init__(self, read: str):
        self.read = read


def _json_number(text: str) -> float | int:
    """Go decodes every JSON number into a float64: refuse what overflows it, as Go does."""
    if not math.isfinite(float(text)):
        raise StrvalsError(f"json: cannot unmarshal number {text} into Go value of type float64")
    return int(text) if _INT64.fullmatch(text) else float(text)


def _refuse_constant(name: str) -> Any:
    raise StrvalsError(f"invalid character {name[0]!r} looking for beginning of value")


_JSON = json.JSONDecoder(parse_int=_json_number, parse_float=_json_number,
                         parse_constant=_refuse_constant)


class _Parser:
    def __init__(self, text: str, data: dict[str, Any], reader: Reader | None, is_json: bool):
        self.sc = _Scanner(text)
        self.data = data
        self.reader = reader
        self.is_json = is_json

    def parse(self) -> None:
        while True:
            try:
                self.key(self.data, 0)
            except StrvalsError as exc:
                if exc.eof:
                    return
                raise

    def key(self, data: dict[str, Any], level: int) -> None:
        try:
            k, last = self.sc.until("=[,.")
        except _EofWith as eof:
            if not eof.read:
                raise _EOF from None
            raise StrvalsError(f"key {eof.read!r} has no value") from None
        if last == "[":
            try:
                i = self.key_index()
            except StrvalsError as exc:
                raise StrvalsError(f"error parsing index: {exc}", eof=exc.eof) from None
            lst: list[Any] = []
            if k in data:
                lst = _as_list(data[k], k)
            lst, err = self.list_item(lst, i, level)
            _set(data, k, lst)
            if err is not None:
                raise err
        elif last == "=":
            if self.is_json:
                if self.empty_val():
                    _set(data, k, None)
                    return
                _set(data, k, self.json_value())
                self.empty_val()
                return
            try:
                vl = self.val_list()
            except _NotList:
                v = self.reader(self.val())  # type: ignore[misc]
                _set(data, k, v)
                return
            except StrvalsError as exc:
                if exc.eof:
                    _set(data, k, "")
                raise
            _set(data, k, vl)
        elif last == ",":
            _set(data, k, "")
            raise StrvalsError(f"key {k!r} has no value (cannot end with ,)")
        else:  # "."
            level += 1
            if level > MAX_NESTED_NAME_LEVEL:
                raise StrvalsError("value name nested level is greater than maximum supported "
                                   f"nested level of {MAX_NESTED_NAME_LEVEL}")
            inner: dict[str, Any] = _as_map(data[k], k) if k in data else {}
            err: StrvalsError | None = None
            try:
                self.key(inner, level)
            except StrvalsError as exc:
                err = exc
            if err is None and not inner:
                raise StrvalsError(f"key map {k!r} has no value")
            if inner:
                _set(data, k, inner)
            if err is not None:
                raise err

    def key_index(self) -> int:
        try:
            v, _ = self.sc.until("]")
        except _EofWith:
            raise _EOF from None
        if not re.fullmatch(r"[+-]?[0-9]+", v) or not -(2 ** 63) <= int(v) < 2 ** 63:
            raise StrvalsError(f'strconv.Atoi: parsing "{v}": invalid syntax')
        return int(v)

    def list_item(self, lst: list[Any], i: int,
                  level: int) -> tuple[list[Any], StrvalsError | None]:
        """listItem; returns (list, error) like Go, because the caller stores the list anyway."""
        if i < 0:
            return lst, StrvalsError(f"negative {i} index not allowed")
        try:
            k, last = self.sc.until("[.=")
        except _EofWith as eof:
            if eof.read:
                return lst, StrvalsError(f"unexpected data at end of array index: {eof.read!r}")
            return lst, _EOF
        if k:
            return lst, StrvalsError(f"unexpected data at end of array index: {k!r}")
        try:
            if last == "=":
                if self.is_json:
                    if self.empty_val():
                        return _set_index(lst, i, None), None
                    lst = _set_index(lst, i, self.json_value())
                    self.empty_val()
                    return lst, None
                try:
                    vl = self.val_list()
                except _NotList:
                    return _set_index(lst, i, self.reader(self.val())), None  # type: ignore[misc]
                except StrvalsError as exc:
                    if exc.eof:
                        return _set_index(lst, i, ""), None
                    raise
                return _set_index(lst, i, vl), None
            if last == "[":
                try:
                    next_i = self.key_index()
                except StrvalsError as exc:
                    return lst, StrvalsError(f"error parsing index: {exc}", eof=exc.eof)
                current: list[Any] = []
                if len(lst) > i and lst[i] is not None:
                    current = _as_list(lst[i], f"[{i}]")
                inner_list, err = self.list_item(current, next_i, level)
                if err is not None:
                    return lst, err
                return _set_index(lst, i, inner_list), None
            # "."
            inner: dict[str, Any] = {}
            if len(lst) > i:
                if isinstance(lst[i], dict):
                    inner = lst[i]
                else:  # indices out of order: Helm replaces the element in place
                    lst[i] = inner
            self.key(inner, level)
            return _set_index(lst, i, inner), None
        except StrvalsError as exc:
            return lst, exc

    def empty_val(self) -> bool:
        """emptyVal: skip blanks; True at EOF or after a comma (consumed)."""
        while True:
            r = self.sc.read()
            if r is None or r == ",":
                return True
            if not _go_isspace(r):
                self.sc.unread()
                return False

    def json_value(self) -> Any:
        rest = self.sc.text[self.sc.pos:]
        try:
            value, end = _JSON.raw_decode(rest)
        except json.JSONDecodeError as exc:
            raise StrvalsError(f"invalid JSON value {rest!r}: {exc.msg}") from None
        number = _NUMBER_PREFIX.match(rest)
        if number and end < len(rest) and (
                rest[end] in "eE" and not number["exp"]
                or rest[end] == "." and not number["frac"] and not number["exp"]):
            # Python stops before a dangling "." or "e" ("1.", "2e"); Go's decoder refuses them.
            raise StrvalsError(f"invalid JSON number in {rest!r}")
        self.sc.pos += end
        return value

    def val(self) -> str:
        try:
            v, _ = self.sc.until(",")
        except _EofWith as eof:
            return eof.read
        return v

    def val_list(self) -> list[Any]:
        r = self.sc.read()
        if r is None:
            raise _EOF
        if r != "{":
            self.sc.unread()
            raise _NotList
        out: list[Any] = []
        while True:
            try:
                rs, last = self.sc.until(",}")
            except _EofWith:
                raise StrvalsError("list must terminate with '}'") from None
            if last == "}":
                r = self.sc.read()
                if r is not None and r != ",":
                    self.sc.unread()
                out.append(self.reader(rs))  # type: ignore[misc]
                return out
            out.append(self.reader(rs))  # type: ignore[misc]


class _NotList(Exception):
    pass


def _set(data: dict[str, Any], key: str, value: Any) -> None:
    if key:
        data[key] = value


def _set_index(lst: list[Any], index: int, value: Any) -> list[Any]:
    if index < 0:
        raise StrvalsError(f"negative {index} index not allowed")
    if index > MAX_INDEX:
        raise StrvalsError(f"index of {index} is greater than maximum supported index of "
                           f"{MAX_INDEX}")
    if len(lst) <= index:
        lst = lst + [None] * (index + 1 - len(lst))
    lst[index] = value
    return lst


def _type_name(value: Any) -> str:
    return {dict: "map", list: "list", str: "string", bool: "bool", int: "int64",
            float: "float64", type(None): "nil"}.get(type(value), type(value).__name__)


def _as_list(value: Any, key: str) -> list[Any]:
    if not isinstance(value, list):
        raise StrvalsError(f"unable to parse key: {key!r} is a {_type_name(value)}, not a list")
    return value


def _as_map(value: Any, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise StrvalsError(f"unable to parse key: {key!r} is a {_type_name(value)}, not a map")
    return value


def parse_into(line: str, dest: dict[str, Any], *, as_string: bool = False) -> dict[str, Any]:
    """``--set`` (or ``--set-string`` with ``as_string``): parse ``line`` into ``dest`` in place.

    Returns ``dest``, like the other ``parse_*_into``.
    """
    _Parser(line, dest, str if as_string else typed_value, False).parse()
    return dest


def parse_json_into(line: str, dest: dict[str, Any]) -> dict[str, Any]:
    """``--set-json``: ``k=<json>[,k2=<json>]``, or a whole JSON object (helm 4), into ``dest``.

    Returns the merged map: the JSON-object form is deep-merged, which builds a new top level.
    """
    text = line.strip()
    if text.startswith("{"):
        try:
            obj = json.loads(text, parse_int=_json_number, parse_float=_json_number,
                             parse_constant=_refuse_constant)
        except json.JSONDecodeError:
            obj = None
        if not isinstance(obj, dict):
            raise StrvalsError(f"failed parsing --set-json data JSON: {line}")
        return merge_maps(dest, obj)
    _Parser(line, dest, None, True).parse()
    return dest


def parse_file_into(line: str, dest: dict[str, Any],
                    base_dir: Path | None = None) -> dict[str, Any]:
    """``--set-file``: ``k=path``; the value is the file's text (a list of texts for ``{a,b}``)."""
    def read(path: str) -> str:
        file = Path(path) if base_dir is None else base_dir / path
        try:
            return file.read_bytes().decode("utf-8", errors="replace")
        except OSError as exc:
            raise StrvalsError(f"open {path}: {exc.strerror.lower() if exc.strerror else exc}")
    _Parser(line, dest, read, False).parse()
    return dest


def merge_maps(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """loader.MergeMaps, how ``-f`` files combine: maps merge key by key, anything else replaces."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_maps(out[key], value)
        else:
            out[key] = value
    return out
