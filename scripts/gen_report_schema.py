"""Write docs/report.schema.json, the JSON Schema of `safepassage report --format json`.

Usage: python scripts/gen_report_schema.py [--check]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from safepassage.operation.report import Report

OUT = Path(__file__).resolve().parents[1] / "docs" / "report.schema.json"


def render() -> str:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://safepassage.example/report.schema.json",
        **Report.model_json_schema(),
    }
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if OUT.read_text(encoding="utf-8") != text:
            print("docs/report.schema.json is stale: run python scripts/gen_report_schema.py")
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
