"""Write docs/report.schema.json, the JSON Schema of `safepassage report --format json`.

Usage: python scripts/gen_report_schema.py [--check]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from _generated import write_or_check

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
    return write_or_check(OUT, render(), "gen_report_schema.py")


if __name__ == "__main__":
    sys.exit(main())
