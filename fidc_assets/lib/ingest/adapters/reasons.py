"""The reason codes of rejected rows and files, and the message a custodian's analyst reads for a row."""

from __future__ import annotations

from fidc_assets.lib.ingest.specs import ValueFormats

#: Row reason codes → what they mean, for messages and for the README.
ROW_REASONS = {
    "unparseable_number": "is not a number in the file's format",
    "unparseable_date": "is not a valid date in the file's format",
    "missing_required": "is required but empty",
    "invalid_document": "is not a valid CPF/CNPJ (length or check digits)",
    "negative_value": "is negative where only positive values are allowed",
    "unknown_code": "is not one of the codes the custodian spec (or the asset type registry) lists",
    "wrong_column_count": "has a different number of columns than the header",
    "wrong_line_length": "has a different length than the fixed-width layout",
    "unknown_record_type": "has a record type the layout does not define",
    "fund_mismatch": "belongs to another fund than the one in the file name",
    "date_mismatch": "has another reference date than the one in the file name",
    "duplicate_key": "repeats the key of an earlier row in the same file",
    "field_too_long": "has a field longer than the 1 MiB a field may hold",
}
#: File reason codes (the whole file is quarantined).
FILE_REASONS = (
    "empty_file", "no_rows", "wrong_encoding", "missing_columns", "unreadable", "truncated_file", "bad_trailer",
    "control_totals_mismatch", "archive_too_large", "archive_member_missing", "archive_ambiguous",
    "missing_sheet", "missing_records", "unsupported_format", "too_many_rejected_rows", "field_too_long",
)  # fmt: skip


def _human_date_formats(formats: tuple[str, ...]) -> str:
    names = []
    for f in formats:
        if f == "excel_serial":
            names.append("an Excel date")
        else:
            names.append(f.replace("%d", "dd").replace("%m", "mm").replace("%Y", "yyyy").replace("%y", "yy"))
    return " or ".join(names)


def row_message(reason_code: str, field_name: str | None, value: str | None, vf: ValueFormats) -> str:
    what = ROW_REASONS.get(reason_code, reason_code)
    shown = "" if value is None else f" {value!r}"
    hint = ""
    if reason_code == "unparseable_date":
        hint = f" (expected {_human_date_formats(vf.date_formats)})"
    elif reason_code == "unparseable_number":
        example = "1234,56" if vf.decimal == "," else "1234.56"
        hint = f" (expected a number like {example})"
    return f"{field_name or 'row'}{shown} {what}{hint}"
