"""The configuration reference: schema descriptions, rendering, and docs/config.md kept in sync."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from anomsearch.cli import app
from anomsearch.config import config_schema
from anomsearch.config.reference import (
    ReferenceRow,
    describe_type,
    method_option_rows,
    render_config_reference,
    render_table,
    schema_rows,
)
from anomsearch.methods import METHODS, ClassifierOptions

DOCS_CONFIG = Path(__file__).resolve().parents[2] / "docs" / "config.md"


def _all_properties(node, path=""):
    """(key path, subschema) of every property of a schema, nested objects and list items."""
    for name, sub in node.get("properties", {}).items():
        key = f"{path}.{name}" if path else name
        yield key, sub
        yield from _all_properties(sub, key)
        if isinstance(sub.get("items"), dict):
            yield from _all_properties(sub["items"], f"{key}[]")
    for keyword in ("allOf", "oneOf", "anyOf"):
        for alt in node.get(keyword, []):
            yield from _all_properties(alt, path)


def test_every_schema_property_has_a_description():
    schema = config_schema()
    missing = [key for key, sub in _all_properties(schema) if not sub.get("description")]
    assert not missing, f"config.v1.json properties without a description: {missing}"
    for name, sub in schema.get("$defs", {}).items():
        assert sub.get("description"), f"$defs.{name} has no description"


def test_schema_defaults_validate_against_their_property():
    import jsonschema

    schema = config_schema()
    for _key, sub in _all_properties(schema):
        if "default" in sub:
            resolved = {**sub, "$defs": schema.get("$defs", {})}
            resolved.pop("default")
            jsonschema.validate(sub["default"], resolved)  # raises with the key in the traceback


def test_committed_config_reference_is_up_to_date():
    rendered = render_config_reference()
    committed = DOCS_CONFIG.read_text(encoding="utf-8") if DOCS_CONFIG.is_file() else ""
    assert committed == rendered, (
        "docs/config.md differs from the reference rendered from "
        "src/anomsearch/schemas/config.v1.json and the method classes: run `make docs-config` "
        "(anomsearch config-reference -o docs/config.md) and commit the result"
    )


def test_every_property_appears_in_the_reference():
    text = render_config_reference()
    for key, _ in _all_properties(config_schema()):
        assert f"| `{key}` |" in text or f"\n## `{key}`\n" in text, key


SMALL_SCHEMA = {
    "type": "object",
    "required": ["name", "fit"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1, "description": "Name."},
        "fit": {
            "type": "object",
            "description": "The fit.",
            "required": ["kind"],
            "properties": {
                "kind": {"enum": ["poly", "dijet"], "description": "Fit function."},
                "order": {"enum": [3, 4, "auto"], "default": 4, "description": "Its order."},
                "range": {"$ref": "#/$defs/interval", "description": "Fit range."},
                "options": {
                    "type": "object",
                    "default": {},
                    "description": "Options.",
                    "properties": {
                        "tol": {
                            "type": "number",
                            "exclusiveMinimum": 0,
                            "maximum": 1,
                            "default": 0.1,
                            "description": "Tolerance.",
                        },
                    },
                },
            },
        },
        "terms": {
            "type": "array",
            "default": [],
            "description": "Extra terms.",
            "items": {
                "type": "object",
                "required": ["up"],
                "properties": {
                    "up": {"type": "number", "minimum": 0, "description": "Up."},
                    "where": {
                        "anyOf": [{"type": "string"}, {"type": "null"}],
                        "description": "Where.",
                    },
                },
            },
        },
        "out": {
            "type": ["object", "null"],
            "default": None,
            "description": "Output.",
            "properties": {"plots": {"type": "boolean", "default": True, "description": "Plots."}},
        },
    },
    "$defs": {
        "interval": {
            "type": "array",
            "items": {"type": "number"},
            "minItems": 2,
            "maxItems": 2,
            "description": "[low, high]",
        },
    },
}


def test_schema_rows_of_a_small_schema():
    rows = schema_rows(SMALL_SCHEMA)
    assert rows == [
        ReferenceRow("name", "non-empty string", "**required**", "Name."),
        ReferenceRow("fit", "object", "**required**", "The fit."),
        ReferenceRow("fit.kind", "`poly` or `dijet`", "**required**", "Fit function."),
        ReferenceRow("fit.order", "`3`, `4` or `auto`", "`4`", "Its order."),
        ReferenceRow("fit.range", "array (2 items) of number", "—", "Fit range."),
        ReferenceRow("fit.options", "object", "`{}`", "Options."),
        ReferenceRow("fit.options.tol", "number in (0, 1]", "`0.1`", "Tolerance."),
        ReferenceRow("terms", "array of object", "`[]`", "Extra terms."),
        ReferenceRow("terms[].up", "number >= 0", "**required**", "Up."),
        ReferenceRow("terms[].where", "string or null", "—", "Where."),
        ReferenceRow("out", "object or null", "`null`", "Output."),
        ReferenceRow("out.plots", "boolean", "`true`", "Plots."),
    ]


def test_render_small_schema_sections():
    text = render_config_reference(SMALL_SCHEMA, methods=False, intro="# Ref {version}\n", outro="")
    assert text.startswith("# Ref 1\n\n## Top level\n\n| key | type | default | meaning |\n")
    assert "| `name` | non-empty string | **required** | Name. |" in text
    assert "## `fit`\n\n**Required.** The fit.\n\n| key |" in text
    assert "| `fit.options.tol` | number in (0, 1] | `0.1` | Tolerance. |" in text
    assert "## `terms`\n\nOptional (array of object, default `[]`). Extra terms." in text
    assert "## `out`\n\nOptional (object or null, default `null`). Output." in text
    assert text.endswith("| `out.plots` | boolean | `true` | Plots. |\n")


def test_table_escapes_pipes_and_html():
    table = render_table([ReferenceRow("a", "x", "—", "p(x | m) in results/<name>, `<d>`")])
    assert table.splitlines()[-1] == "| `a` | x | — | p(x \\| m) in results/&lt;name>, `<d>` |"


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        ({"type": "integer", "minimum": 1}, "integer >= 1"),
        ({"type": "number", "minimum": 0, "exclusiveMaximum": 1}, "number in [0, 1)"),
        ({"const": "normsys"}, "`normsys`"),
        (
            {"oneOf": [{"type": "integer", "minimum": 3}, {"enum": ["auto"]}]},
            "integer >= 3 or `auto`",
        ),
        ({"allOf": [{"type": "number"}, {"maximum": 2}]}, "number <= 2"),
        ({}, "any"),
    ],
)
def test_describe_type(node, expected):
    assert describe_type(node) == expected


def test_method_options_cover_every_config_option():
    text = render_config_reference()
    for name, cls in METHODS.items():
        assert f"### `{name}`" in text
        rows = {row.key for row in method_option_rows(cls)}
        assert "method.reference_background" not in rows  # attached by the pipeline
        assert all(row.description for row in method_option_rows(cls)), name
    shared = {row.key: row for row in method_option_rows(ClassifierOptions)}
    assert shared["method.hidden"].default == "`[64, 64, 64]`"
    assert shared["method.inner_folds"].type == "integer or null"


def test_cli_config_reference(tmp_path):
    out = tmp_path / "config.md"
    result = CliRunner().invoke(app, ["config-reference", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == render_config_reference()
    printed = CliRunner().invoke(app, ["config-reference"])
    assert printed.exit_code == 0
    assert printed.output.startswith("# Configuration reference")


def test_api_reference_covers_every_public_module():
    """Every module pinned in tests/test_public_api.py has a `::: module` block in docs/api/."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_public_api", Path(__file__).parents[1] / "test_public_api.py"
    )
    public_api = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(public_api)
    api_dir = DOCS_CONFIG.parent / "api"
    documented = {
        line.removeprefix(":::").strip()
        for page in api_dir.glob("*.md")
        for line in page.read_text(encoding="utf-8").splitlines()
        if line.startswith(":::")
    }
    missing = sorted(set(public_api.PUBLIC) - documented)
    assert not missing, (
        f"public modules without an API reference page: {missing}; add a `::: module` line to "
        "a page of docs/api/ (check with `make docs`)"
    )
