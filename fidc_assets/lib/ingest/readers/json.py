"""JSON documents: a list of records at a path, nested objects flattened to dotted names, and document-level
values (``$.path`` columns) repeated on every record; record numbers are positions in the list."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pyarrow as pa

from fidc_assets.lib.ingest.readers.common import (
    FileRejected,
    RawBatch,
    RawReader,
    RejectedRow,
    Rejections,
    Source,
    check_encoding,
    empty_file,
    python_encoding,
    read_all,
)
from fidc_assets.lib.ingest.specs import JsonFormat


def json_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _flatten(record: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


class JsonReader(RawReader):
    def __init__(self, source: Source, name: str, fmt: JsonFormat, document_paths: list[str]):
        data = read_all(source)
        if not data.strip():
            raise empty_file(name)
        check_encoding(source, fmt.encoding, name)
        self.name, self.fmt = name, fmt
        self.invalid = Rejections(name)
        try:
            doc = json.loads(data.decode(python_encoding(fmt.encoding)))
        except json.JSONDecodeError as e:
            raise FileRejected(
                "unreadable", f"{name}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno}); "
                "the file may be truncated."
            ) from None  # fmt: skip
        node = doc
        for part in fmt.records_path.split("."):
            if not isinstance(node, dict) or part not in node:
                raise FileRejected("missing_records", f"{name}: no list of records at {fmt.records_path!r}.")
            node = node[part]
        if not isinstance(node, list):
            raise FileRejected("missing_records", f"{name}: {fmt.records_path!r} is not a list of records.")
        if not node:
            raise FileRejected("no_rows", f"{name}: the list at {fmt.records_path!r} is empty.")
        self._records = node
        flat = [_flatten(r) if isinstance(r, dict) else {} for r in node]
        for i, r in enumerate(node, start=1):
            if not isinstance(r, dict):
                self.invalid.append(
                    RejectedRow(i, None, "wrong_column_count", f"record {i} is not an object", json_text(r))
                )
        names: dict[str, None] = {}
        for r in flat:
            names.update(dict.fromkeys(r))
        top = _flatten(doc) if isinstance(doc, dict) else {}
        self._document = {p: json_text(top.get(p.removeprefix("$."))) for p in document_paths}
        self._flat = flat
        self._numbers = [i for i, r in enumerate(node, start=1) if isinstance(r, dict)]
        self.names = list(names) + document_paths

    def batches(self) -> Iterator[RawBatch]:
        rows = [self._flat[n - 1] for n in self._numbers]
        columns = {}
        for name in self.names:
            if name in self._document:
                columns[name] = pa.array([self._document[name]] * len(rows), pa.string())
            else:
                columns[name] = pa.array([json_text(r.get(name)) for r in rows], pa.string())
        yield RawBatch(pa.table(columns), pa.array(self._numbers, pa.int64()))

    def raw_texts(self, numbers: set[int]) -> dict[int, str]:
        texts = {n: json_text(self._records[n - 1]) for n in numbers if 0 < n <= len(self._records)}
        return {n: text for n, text in texts.items() if text is not None}  # a null record has no text
