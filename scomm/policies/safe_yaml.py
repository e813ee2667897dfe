"""A YAML reader for files a stranger may have written: bounded, plain data only, every value
with its line.

Policy files are edited by hand and checked by ``scomm policy check`` before anyone trusts them,
so the reader assumes nothing about them:

- the file is at most :data:`MAX_BYTES` and is decoded strictly as UTF-8 (a Latin-1 or UTF-16
  file is refused naming the line of the first byte that is not UTF-8);
- control characters (other than tab and line breaks) are refused with their line;
- nesting is at most :data:`MAX_DEPTH` deep, and the document, with every alias expanded, is at
  most :data:`MAX_NODES` values: a "billion laughs" file is refused before it grows;
- only plain data: mappings with scalar keys, sequences, strings, numbers, booleans, null and
  dates; no merge keys (``<<``), no other tags (``!!python/...``, ``!!set``, ``!foo``);
- a value whose tag does not fit it (``!!int abc``, ``2013-02-30``) and a key given twice are
  refused with their line.

Every refusal is a :class:`~scomm.errors.PolicyError` whose ``where`` is ``FILE:LINE``.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from scomm.errors import PolicyError

Location = tuple[Any, ...]

# The largest packaged policy file is about 6 KB and 263 values; the limits leave ten to twenty
# times that, and keep the worst file the pure-Python parser can be given well under a second.
MAX_BYTES = 64 * 1024
MAX_DEPTH = 32
MAX_NODES = 5_000

_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}"
    for name in ("str", "int", "float", "bool", "null", "timestamp", "map", "seq")
)
_MERGE_TAG = "tag:yaml.org,2002:merge"
_KIND_NAMES = {
    "tag:yaml.org,2002:int": "integer",
    "tag:yaml.org,2002:float": "number",
    "tag:yaml.org,2002:bool": "boolean",
    "tag:yaml.org,2002:timestamp": "date",
}
# C0 controls but tab, LF and CR; DEL; C1 controls; and the BOM anywhere but the start.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufeff]")


def _line_at(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def decode(data: bytes, where: str) -> str:
    """The text of a policy file's bytes: UTF-8 (with or without a BOM), no control characters."""
    if len(data) > MAX_BYTES:
        raise PolicyError(
            where, f"the file is {len(data):,} bytes; a policy file is at most {MAX_BYTES:,}"
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise PolicyError(f"{where}:1", "the file is UTF-16; save it as UTF-8")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise PolicyError(
            f"{where}:{line}",
            f"NUL byte at offset {nul} (a UTF-16 file?); save the file as UTF-8",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise PolicyError(
            f"{where}:{line}",
            f"byte 0x{data[exc.start]:02x} at offset {exc.start} is not UTF-8 "
            "(a Latin-1 or UTF-16 file?); save the file as UTF-8",
        ) from None
    return check_text(text, where)


def check_text(text: str, where: str) -> str:
    """``text`` if it is within the size limit and holds no control characters."""
    if len(text) > MAX_BYTES:
        raise PolicyError(
            where, f"the file is {len(text):,} characters; a policy file is at most {MAX_BYTES:,}"
        )
    bad = _CONTROL.search(text)
    if bad:
        raise PolicyError(
            f"{where}:{_line_at(text, bad.start())}",
            f"control character U+{ord(bad.group()):04X} at column "
            f"{bad.start() - text.rfind(chr(10), 0, bad.start())}; policy files are plain text",
        )
    return text


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer refuses nesting past :data:`MAX_DEPTH` (the composer recurses
    once per level, so a deep file would otherwise end in RecursionError) and stops at
    :data:`MAX_NODES` nodes (so a long flat list is refused before it is all parsed)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self.depth += 1
        self.nodes += 1
        try:
            problem = None
            if self.depth > MAX_DEPTH:
                problem = f"nested more than {MAX_DEPTH} levels deep"
            elif self.nodes > MAX_NODES:
                problem = f"more than {MAX_NODES:,} values; a policy file holds far fewer"
            if problem:
                mark = self.peek_event().start_mark
                raise yaml.MarkedYAMLError(problem=problem, problem_mark=mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _compose(text: str, where: str) -> yaml.Node | None:
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise PolicyError(f"{where}:{line}", f"not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:  # the reader's errors carry no mark
        raise PolicyError(where, f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()


class _Builder:
    """Plain Python data from composed nodes, counting every value an alias expands to."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.lines: dict[Location, int] = {}
        self.nodes = 0
        self._scalars = yaml.SafeLoader("")

    def fail(self, node: yaml.Node, problem: str) -> PolicyError:
        return PolicyError(f"{self.where}:{node.start_mark.line + 1}", problem)

    def build(self, node: yaml.Node, path: Location, depth: int = 0) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fail(
                node,
                f"more than {MAX_NODES:,} values once aliases are expanded "
                "(an alias bomb?); write the values out",
            )
        if depth > MAX_DEPTH:  # an alias can nest a node inside itself
            raise self.fail(node, f"nested more than {MAX_DEPTH} levels deep (through aliases)")
        self.lines.setdefault(path, node.start_mark.line + 1)
        if node.tag not in _PLAIN_TAGS:
            if node.tag == _MERGE_TAG:
                raise self.fail(node, "merge keys (<<) are not allowed; write the keys out")
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise self.fail(node, f"tag {tag!r} is not allowed; policy files hold plain data")
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        return self._scalar(node)

    def _mapping(self, node: yaml.MappingNode, path: Location, depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                raise self.fail(key_node, "merge keys (<<) are not allowed; write the keys out")
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail(key_node, "a key must be a plain value, not a list or mapping")
            key = self.build(key_node, (*path, "<key>"), depth + 1)
            if key in out:
                raise self.fail(key_node, f"key {key!r} appears twice")
            out[key] = self.build(value_node, (*path, key), depth + 1)
        return out

    def _scalar(self, node: yaml.Node) -> Any:
        try:
            return self._scalars.construct_object(node)
        except (ValueError, OverflowError, yaml.YAMLError) as exc:
            kind = _KIND_NAMES.get(node.tag, node.tag)
            shown = node.value if len(node.value) <= 40 else node.value[:40] + "..."
            raise self.fail(node, f"{shown!r} is not a valid {kind}: {exc}") from None


def read_yaml(source: str | bytes, where: str) -> tuple[Any, dict[Location, int]]:
    """The data of one YAML document and the line of every value by its path.

    ``source`` is the file's bytes (decoded strictly, see :func:`decode`) or its text.
    """
    text = decode(source, where) if isinstance(source, bytes) else check_text(source, where)
    node = _compose(text, where)
    if node is None:
        raise PolicyError(where, "the file is empty")
    builder = _Builder(where)
    data = builder.build(node, ())
    return data, builder.lines


def read_yaml_file(path: Any, where: str | None = None) -> tuple[Any, dict[Location, int]]:
    """:func:`read_yaml` of a file, reading no more than the size limit allows."""
    where = where or str(path)
    try:
        with open(path, "rb") as stream:
            data = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        raise PolicyError(where, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise PolicyError(
            where, f"the file is over {MAX_BYTES:,} bytes; a policy file is at most {MAX_BYTES:,}"
        )
    return read_yaml(data, where)
