"""The company file's published JSON Schema is the one the loader checks against."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from click.testing import CliRunner

from pbxctl.cli.main import cli
from pbxctl.company.schema import json_schema, schema_text

PUBLISHED = Path(__file__).resolve().parents[2] / "docs" / "company.schema.json"


def test_the_committed_schema_is_up_to_date() -> None:
    assert PUBLISHED.read_text(encoding="utf-8") == schema_text(), (
        "run: pbxctl export --schema > docs/company.schema.json")


def test_export_schema_prints_it_and_it_is_a_valid_schema() -> None:
    result = CliRunner().invoke(cli, ["export", "--schema"], env={"PBXCTL_CONFIG": ""})
    assert result.exit_code == 0 and result.stdout == schema_text()
    jsonschema.Draft202012Validator.check_schema(json.loads(result.stdout))
    assert json.loads(result.stdout) == json_schema()
