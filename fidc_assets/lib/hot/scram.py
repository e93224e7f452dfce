"""SCRAM-SHA-256 password verifiers computed on the client (RFC 5802, RFC 7677; PostgreSQL's stored format).

`ALTER ROLE r PASSWORD 'plain'` sends the password to the server, where statement logging (`log_statement =
ddl`), pg_stat_statements or an error message may keep it. PostgreSQL also accepts the verifier itself,
`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (base64 parts): the server can check logins
with it but nobody can log in knowing only it. That is what libpq's PQencryptPasswordConn and psql's
\\password send; computed here with hashlib so any connection (psycopg, SQLAlchemy) can set passwords safely.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import unicodedata

#: PostgreSQL's default (scram_iterations).
ITERATIONS = 4096
SALT_BYTES = 16


def _normalized(password: str) -> bytes:
    """SASLprep, as PostgreSQL applies it: ASCII passwords as they are; others NFKC-normalized (the part of
    SASLprep that changes real passwords). PostgreSQL falls back to the raw bytes when SASLprep fails, and so
    does this for a password holding control characters."""
    if password.isascii():
        return password.encode()
    if any(unicodedata.category(ch).startswith("C") for ch in password):
        return password.encode()
    return unicodedata.normalize("NFKC", password).encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _keys(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    salted = hashlib.pbkdf2_hmac("sha256", _normalized(password), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return stored_key, server_key


def scram_sha256_verifier(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """The verifier PostgreSQL stores for `password` (a random salt unless given)."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    stored_key, server_key = _keys(password, salt, iterations)
    return f"SCRAM-SHA-256${iterations}:{_b64(salt)}${_b64(stored_key)}:{_b64(server_key)}"


def verify_scram_sha256(password: str, verifier: str) -> bool:
    """Whether `verifier` (PostgreSQL's format) was made from `password`."""
    try:
        method, params, keys = verifier.split("$")
        iterations, salt = params.split(":")
        stored, server = keys.split(":")
        if method != "SCRAM-SHA-256":
            return False
        stored_key, server_key = _keys(password, base64.b64decode(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(_b64(stored_key), stored) and hmac.compare_digest(_b64(server_key), server)
