"""``cosmos-env <command> --help``: a command's settings, their values after the overrides
given, and each field's docstring, read from the dataclasses that hold the defaults."""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import re
import textwrap
import typing
from typing import Any


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """The first sentence of each field's attribute docstring (the string literal under it)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):  # no source (a built-in, a class made at run time)
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs = {}
    for node, after in zip(body, body[1:]):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            text = " ".join(after.value.value.split())
            docs[node.target.id] = re.split(r"(?<!e\.g)(?<!i\.e)\.\s+(?=[A-Z(`*])", text)[0].rstrip(".") + "."
    return docs


def _nested_class(cls: type | None, name: str, value: dict, stage_configs: dict[str, type]) -> type | None:
    """The dataclass that documents ``cls.name`` (a stage's by its ``name`` field), or None."""
    if name == "stage" and isinstance(value.get("name"), str):
        return stage_configs.get(value["name"])
    if cls is None or not dataclasses.is_dataclass(cls):
        return None
    hint = typing.get_type_hints(cls).get(name)
    return hint if isinstance(hint, type) and dataclasses.is_dataclass(hint) else None


def settings_lines(
    values: dict[str, Any], cls: type | None, stage_configs: dict[str, type], prefix: str = ""
) -> list[str]:
    """``key: value  doc`` lines of a composed config (nested blocks under dotted keys)."""
    docs = field_docs(cls) if cls is not None else {}
    lines = []
    for key, value in values.items():
        if isinstance(value, dict) and value:
            sub = _nested_class(cls, key, value, stage_configs)
            head = f"{prefix}{key}:"
            lines.append(head + (f"  # {docs[key]}" if key in docs else ""))
            lines += settings_lines(value, sub, stage_configs, prefix + "  ")
            continue
        shown = "???  (required)" if value == "???" else _yaml(value)
        line = f"{prefix}{key}: {shown}"
        lines.append(f"{line:44s} # {docs[key]}" if key in docs else line)
    return lines


def _yaml(value: Any) -> str:
    """A value as an override would spell it (``null``, ``true``, ``[1, 2]``)."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    return str(value)


def command_help(command: str, schema: type, values: dict[str, Any], stage_configs: dict[str, type]) -> str:
    """The help text of ``command``: its summary, how to set a field, and every setting."""
    summary = (schema.__doc__ or "").strip().splitlines()[0]
    nested = [f"{k}.{next(iter(v))}=..." for k, v in values.items() if isinstance(v, dict) and v]
    lines = [
        f"cosmos-env {command}: {summary}",
        "",
        f"usage: cosmos-env {command} [key=value ...]   (config: cosmos_env/conf/{command}.yaml)",
        *([f"nested settings take dots: {nested[-1]}"] if nested else []),
        "settings, with the overrides given applied:",
        "",
    ]
    return "\n".join(lines + ["  " + line for line in settings_lines(values, schema, stage_configs)])
