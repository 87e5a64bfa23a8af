"""Write docs/events.md, the event catalogue, from safepassage.events.catalogue.

Usage: python scripts/gen_event_docs.py [--check]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from _generated import write_or_check

from safepassage.events.catalogue import KINDS

OUT = Path(__file__).resolve().parents[1] / "docs" / "events.md"


def _type(schema: dict[str, Any], defs: dict[str, Any]) -> str:  # noqa: PLR0911 - one per JSON Schema form
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        inner = defs[name].get("properties", {})
        return f"{name} {{{', '.join(inner)}}}"
    if "anyOf" in schema:
        return " or ".join(_type(s, defs) for s in schema["anyOf"])
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    if "const" in schema:
        return f"`{str(schema['const']).lower()}`"
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list of {_type(schema.get('items', {}), defs)}"
    if kind == "string" and schema.get("format") == "date-time":
        return "time (RFC 3339, with zone)"
    return str(kind)


def render() -> str:
    lines = [
        "# Event catalogue",
        "",
        "Generated from `safepassage.events.catalogue` by `scripts/gen_event_docs.py`; a test",
        "fails when it differs from the code. Every event is one log entry: the RFC 8785",
        'canonical JSON object `{"v": 1, "operation", "kind", "at", "actor", "body", "sig"}`,',
        "signed with Ed25519 by the actor's registered key (see `docs/formats.md`). Unknown",
        "fields are refused.",
        "",
        "| kind | what it records |",
        "|---|---|",
    ]
    lines += [f"| `{kind}` | {model.summary} |" for kind, model in KINDS.items()]
    for kind, model in KINDS.items():
        schema = model.model_json_schema()
        defs = schema.get("$defs", {})
        required = set(schema.get("required", []))
        lines += [
            "",
            f"## `{kind}`",
            "",
            model.summary,
            "",
            "| field | type | required | meaning |",
            "|---|---|---|---|",
        ]
        for name, prop in schema.get("properties", {}).items():
            need = "yes" if name in required else "no"
            meaning = prop.get("description", "").replace("\n", " ")
            lines.append(f"| `{name}` | {_type(prop, defs)} | {need} | {meaning} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    return write_or_check(OUT, render(), "gen_event_docs.py")


if __name__ == "__main__":
    sys.exit(main())
