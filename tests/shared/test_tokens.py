"""Product Instance Registration Tokens: the research format, lenient parsing, usability rules."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import pytest

from shared import tokens
from shared.errors import BadRequest, TokenRefused
from shared.tokens import TokenRecord, check_usable, hash_secret, mint, parse

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
EXPIRES = NOW + timedelta(days=30)
SECRET = bytes(range(32))
TOKEN_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"


def minted() -> tokens.MintedToken:
    return mint(expires_at=EXPIRES, secret=SECRET, token_id=TOKEN_ID)


def record(**changes: object) -> TokenRecord:
    m = minted()
    base = TokenRecord(
        token_id=m.token_id,
        secret_hash=m.secret_hash,
        virtual_account_id=1,
        description="lab",
        created_at=NOW,
        expires_at=m.expires_at,
        max_uses=None,
        uses=0,
        export_controlled=False,
        revoked_at=None,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


# -- format --------------------------------------------------------------------------------------


def test_format_matches_research() -> None:
    """The text is URL-encoded, 60-column base64 of '<uuid>-<epoch ms>|<base64 of 32 bytes>'."""
    m = minted()
    assert "%0A" in m.text and "\n" not in m.text
    wrapped = unquote(m.text)
    lines = wrapped.split("\n")
    assert lines[-1] == ""
    assert all(len(line) == 60 for line in lines[:-2]) and 0 < len(lines[-2]) <= 60
    plain = base64.b64decode("".join(lines)).decode()
    ms = int(EXPIRES.timestamp()) * 1000
    assert plain == f"{TOKEN_ID}-{ms}|{base64.b64encode(SECRET).decode()}"


def test_minted_defaults_are_random_and_well_formed() -> None:
    """Without an id or secret, mint picks a fresh uuid4 and 32 random bytes each time."""
    a, b = mint(expires_at=EXPIRES), mint(expires_at=EXPIRES)
    assert a.token_id != b.token_id and a.secret_hash != b.secret_hash
    assert uuid.UUID(a.token_id).version == 4
    assert len(parse(a.text).secret) == tokens.SECRET_BYTES


def test_expiry_is_whole_seconds() -> None:
    """The embedded expiry drops sub-second precision, and the minted expires_at matches it."""
    m = mint(expires_at=EXPIRES + timedelta(milliseconds=750), secret=SECRET, token_id=TOKEN_ID)
    assert m.expires_at == EXPIRES
    assert parse(m.text).expires_ms == int(EXPIRES.timestamp()) * 1000


# -- parsing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "paste",
    [
        pytest.param(lambda t: t, id="as-minted"),
        pytest.param(unquote, id="url-decoded"),
        pytest.param(lambda t: unquote(t).replace("\n", ""), id="newlines-removed"),
        pytest.param(lambda t: unquote(t).replace("\n", "\r\n"), id="crlf"),
        pytest.param(lambda t: f"  \n{t}\t \n", id="surrounding-whitespace"),
        pytest.param(lambda t: f"  {unquote(t)}  ", id="decoded-with-whitespace"),
    ],
)
def test_parse_round_trips_what_people_paste(paste: object) -> None:
    """The token parses back to its id, expiry and secret however it was pasted."""
    m = minted()
    parsed = parse(paste(m.text))  # type: ignore[operator]
    assert parsed == tokens.ParsedToken(TOKEN_ID, int(EXPIRES.timestamp()) * 1000, SECRET)
    assert hash_secret(parsed.secret) == m.secret_hash


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "not a token",
        "%%%%",
        base64.b64encode(b"\xff\xfe\xfd").decode(),
        _b64("hello world"),
        _b64(f"{TOKEN_ID}|{base64.b64encode(SECRET).decode()}"),
        _b64(f"{TOKEN_ID}-123|{base64.b64encode(bytes(16)).decode()}"),
        _b64(f"{TOKEN_ID}-123|{base64.b64encode(bytes(33)).decode()}"),
        _b64(f"{TOKEN_ID.upper()}-123|{base64.b64encode(SECRET).decode()}"),
        _b64(f"not-a-uuid-123|{base64.b64encode(SECRET).decode()}"),
    ],
)
def test_parse_rejects_garbage(text: str) -> None:
    """Anything that is not a registration token is refused as token_malformed (403)."""
    with pytest.raises(TokenRefused) as caught:
        parse(text)
    assert caught.value.code == "token_malformed"
    assert caught.value.http_status == 403


# -- usability -----------------------------------------------------------------------------------


def test_check_usable_passes_for_a_valid_token() -> None:
    """A known, unrevoked, unexpired token with uses left is returned as its record."""
    rec = record(max_uses=3, uses=2)
    assert check_usable(rec, parse(minted().text), NOW) is rec


@pytest.mark.parametrize(
    ("rec", "now", "code"),
    [
        pytest.param(None, NOW, "token_unknown", id="no-record"),
        pytest.param(record(secret_hash=hash_secret(bytes(32))), NOW, "token_unknown", id="wrong-secret"),
        pytest.param(record(revoked_at=NOW - timedelta(hours=1)), NOW, "token_revoked", id="revoked"),
        pytest.param(record(), EXPIRES, "token_expired", id="now-equals-expiry"),
        pytest.param(record(), EXPIRES + timedelta(days=1), "token_expired", id="after-expiry"),
        pytest.param(record(max_uses=2, uses=2), NOW, "token_used_up", id="uses-equal-max"),
        pytest.param(record(max_uses=1, uses=5), NOW, "token_used_up", id="uses-over-max"),
        pytest.param(record(expires_at=EXPIRES + timedelta(days=1)), NOW, "token_malformed", id="expiry-mismatch"),
    ],
)
def test_check_usable_refusals(rec: TokenRecord | None, now: datetime, code: str) -> None:
    """Each rule refuses with its own code and a fix a person can follow."""
    with pytest.raises(TokenRefused) as caught:
        check_usable(rec, parse(minted().text), now)
    assert caught.value.code == code
    assert caught.value.fix


def test_one_second_before_expiry_is_usable() -> None:
    """The token is still usable at the last second before it expires."""
    assert check_usable(record(), parse(minted().text), EXPIRES - timedelta(seconds=1)).token_id == TOKEN_ID


def test_only_the_hash_of_the_secret_is_stored() -> None:
    """The stored hash is SHA-256 of the secret; neither the secret nor the token text can be read from it."""
    m = minted()
    assert m.secret_hash == hashlib.sha256(SECRET).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", m.secret_hash)
    stored = dataclasses.asdict(record())
    secret_forms = {SECRET.hex(), base64.b64encode(SECRET).decode(), m.text, unquote(m.text)}
    for value in stored.values():
        assert not any(form in str(value) for form in secret_forms)
    with pytest.raises(TokenRefused):
        parse(m.secret_hash)


@pytest.mark.parametrize(("days", "ok"), [(0, False), (1, True), (30, True), (365, True), (366, False), (-1, False)])
def test_validate_days(days: int, ok: bool) -> None:
    """Token lifetimes must lie within the policy bounds (1 to 365 days)."""
    if ok:
        assert tokens.validate_days(days, minimum=1, maximum=365) == days
    else:
        with pytest.raises(BadRequest) as caught:
            tokens.validate_days(days, minimum=1, maximum=365)
        assert caught.value.code == "token_days_out_of_range"


@pytest.mark.parametrize(
    ("changes", "at", "status", "refusal"),
    [
        ({}, NOW, tokens.TokenStatus.ACTIVE, None),
        ({"revoked_at": NOW}, NOW, tokens.TokenStatus.REVOKED, "token_revoked"),
        ({}, EXPIRES, tokens.TokenStatus.EXPIRED, "token_expired"),
        ({"max_uses": 2, "uses": 2}, NOW, tokens.TokenStatus.USED_UP, "token_used_up"),
        ({"revoked_at": NOW, "max_uses": 1, "uses": 1}, EXPIRES, tokens.TokenStatus.REVOKED, "token_revoked"),
    ],
)
def test_one_status_for_the_listing_and_the_registration(
    changes: dict[str, object], at: datetime, status: tokens.TokenStatus, refusal: str | None
) -> None:
    """The token table's status and registration's refusal come from the same rule."""
    rec = record(**changes)
    assert tokens.status(rec, at) is status
    if refusal is None:
        assert check_usable(rec, parse(minted().text), at) == rec
    else:
        with pytest.raises(TokenRefused) as exc:
            check_usable(rec, parse(minted().text), at)
        assert exc.value.code == refusal
