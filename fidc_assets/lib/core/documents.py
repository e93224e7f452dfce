"""Brazilian taxpayer documents: CPF (people, 11 digits) and CNPJ (companies and funds, 14 digits).

Both end in two mod-11 check digits. Custodian files carry them punctuated (`123.456.789-09`,
`12.345.678/0001-95`) or as bare digits, sometimes with the leading zeros lost; `only_digits` and
`normalize_document` bring them back to the canonical bare-digit form used throughout the lakehouse.
Numbers made of one repeated digit (`111.111.111-11`, `00.000.000/0000-00`) pass the mod-11 test but are
not valid documents and are rejected.

Only numeric CNPJs are handled (the alphanumeric CNPJ announced for July 2026 is not produced by any
custodian file yet).
"""

from __future__ import annotations

CPF_LENGTH = 11
CNPJ_LENGTH = 14

_CNPJ_WEIGHTS_1 = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_CNPJ_WEIGHTS_2 = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)


def only_digits(s: str | None) -> str:
    """The ASCII digits of `s`, in order (`"12.345.678/0001-95"` → `"12345678000195"`); `None` → `""`."""
    if not s:
        return ""
    return "".join(ch for ch in s if "0" <= ch <= "9")


def _mod11_digit(total: int) -> int:
    rest = total % 11
    return 0 if rest < 2 else 11 - rest


def cpf_check_digits(base9: str) -> str:
    """The two check digits of a CPF whose first nine digits are `base9`."""
    if len(base9) != 9 or not base9.isascii() or not base9.isdigit():
        raise ValueError(f"a CPF base has 9 digits, got {base9!r}")
    nums = [int(c) for c in base9]
    d1 = _mod11_digit(sum(n * w for n, w in zip(nums, range(10, 1, -1), strict=True)))
    nums.append(d1)
    d2 = _mod11_digit(sum(n * w for n, w in zip(nums, range(11, 1, -1), strict=True)))
    return f"{d1}{d2}"


def cnpj_check_digits(base12: str) -> str:
    """The two check digits of a CNPJ whose first twelve digits (root + branch) are `base12`."""
    if len(base12) != 12 or not base12.isascii() or not base12.isdigit():
        raise ValueError(f"a CNPJ base has 12 digits, got {base12!r}")
    nums = [int(c) for c in base12]
    d1 = _mod11_digit(sum(n * w for n, w in zip(nums, _CNPJ_WEIGHTS_1, strict=True)))
    nums.append(d1)
    d2 = _mod11_digit(sum(n * w for n, w in zip(nums, _CNPJ_WEIGHTS_2, strict=True)))
    return f"{d1}{d2}"


def _well_formed(digits: str, length: int) -> bool:
    return (
        isinstance(digits, str)
        and len(digits) == length
        and digits.isascii()
        and digits.isdigit()
        and digits != digits[0] * length
    )


def is_valid_cpf(digits: str) -> bool:
    """True for exactly 11 ASCII digits, not all the same, with correct check digits."""
    return _well_formed(digits, CPF_LENGTH) and cpf_check_digits(digits[:9]) == digits[9:]


def is_valid_cnpj(digits: str) -> bool:
    """True for exactly 14 ASCII digits, not all the same, with correct check digits."""
    return _well_formed(digits, CNPJ_LENGTH) and cnpj_check_digits(digits[:12]) == digits[12:]


def is_valid_document(digits: str) -> bool:
    """A valid CPF (11 digits) or a valid CNPJ (14 digits)."""
    if len(digits) == CPF_LENGTH:
        return is_valid_cpf(digits)
    if len(digits) == CNPJ_LENGTH:
        return is_valid_cnpj(digits)
    return False


def normalize_document(s: str | None, kind: str | None = None) -> str:
    """Bare digits of a CPF/CNPJ, restoring leading zeros lost by spreadsheets.

    `kind` is `"cpf"`, `"cnpj"` or None (then: up to 11 digits is read as a CPF, 12-14 as a CNPJ).
    Does not validate: call `is_valid_cpf` / `is_valid_cnpj` on the result.
    """
    digits = only_digits(s)
    if not digits:
        return ""
    if kind is None:
        kind = "cpf" if len(digits) <= CPF_LENGTH else "cnpj"
    width = CPF_LENGTH if kind == "cpf" else CNPJ_LENGTH
    return digits.zfill(width) if len(digits) < width else digits


def format_cpf(digits: str) -> str:
    """`"12345678909"` → `"123.456.789-09"` (input may already be punctuated)."""
    d = only_digits(digits)
    if len(d) != CPF_LENGTH:
        raise ValueError(f"a CPF has 11 digits, got {digits!r}")
    return f"{d[:3]}.{d[3:6]}.{d[6:9]}-{d[9:]}"


def format_cnpj(digits: str) -> str:
    """`"12345678000195"` → `"12.345.678/0001-95"` (input may already be punctuated)."""
    d = only_digits(digits)
    if len(d) != CNPJ_LENGTH:
        raise ValueError(f"a CNPJ has 14 digits, got {digits!r}")
    return f"{d[:2]}.{d[2:5]}.{d[5:8]}/{d[8:12]}-{d[12:]}"


def format_document(digits: str) -> str:
    """Punctuate a CPF (11 digits) or CNPJ (14 digits)."""
    d = only_digits(digits)
    if len(d) == CPF_LENGTH:
        return format_cpf(d)
    if len(d) == CNPJ_LENGTH:
        return format_cnpj(d)
    raise ValueError(f"not a CPF or CNPJ: {digits!r}")
