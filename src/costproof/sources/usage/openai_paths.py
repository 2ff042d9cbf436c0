"""openai-jsonl bulk schemas cut to the paths a block's sampled lines use, other paths of their names typed null."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.json as pajson

Path_ = tuple[str, ...]


def _walk(value: Any, t: pa.DataType | pa.Schema, path: Path_, out: set[Path_]) -> None:
    """Add the schema paths `value` (a JSON value at schema node `t`) uses: objects along structs, lists' items."""
    if isinstance(t, pa.ListType):
        if isinstance(value, list):
            for item in value:
                _walk(item, t.value_type, path, out)
        return
    if not isinstance(value, dict) or not (isinstance(t, pa.Schema) or pa.types.is_struct(t)):
        return
    fields = {f.name: f.type for f in t}
    for key, child in value.items():
        if key in fields:
            out.add((*path, key))
            _walk(child, fields[key], (*path, key), out)


def add_paths(doc: Any, schema: pa.Schema, out: set[Path_]) -> None:
    """Add the schema paths (key names from the top) a sampled record uses (only decides typing, not correctness)."""
    _walk(doc, schema, (), out)


def _typed(t: Any, path: Path_, paths: frozenset[Path_]) -> Any:
    if isinstance(t, pa.Schema):
        return pa.schema([_field(f, path, paths) for f in t])
    if pa.types.is_struct(t):
        return pa.struct([_field(f, path, paths) for f in t])
    if pa.types.is_list(t):
        return pa.list_(_typed(t.value_type, path, paths))
    return t


def _field(f: pa.Field, path: Path_, paths: frozenset[Path_]) -> pa.Field:
    here = (*path, f.name)
    # a path no sampled line used is parsed only as null: a value there fails the parse (see path_options)
    return pa.field(f.name, _typed(f.type, here, paths) if here in paths else pa.null())


def path_options(schema: pa.Schema, paths: frozenset[Path_]) -> pajson.ParseOptions:
    """Parse options for `schema` (already cut to the names in use) with every field at a path outside `paths`
    typed null. Building a column the lines never fill costs about as much as one they do, and a name the sample
    saw is often in the schema at several paths (model, id, usage... at the top, in response, in body).

    A block this parses gives the same table as `schema` would but for columns that are null either way: a
    non-null value at a null-typed path (an object, a string...) makes pyarrow fail the block, which is then read
    with `schema` itself."""
    return pajson.ParseOptions(
        explicit_schema=_typed(schema, (), paths), unexpected_field_behavior="ignore", newlines_in_values=False
    )
