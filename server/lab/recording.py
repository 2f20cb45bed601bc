"""What the request journal keeps of each request, and how it is searched.

``Journal`` is a ring of the last ``JOURNAL_SIZE`` requests (the oldest fall off); each entry keeps
the request's and the reply's headers and bodies, with secrets masked (``mask_headers``,
``mask_body``: Authorization and cookies, tokens, keys, passwords, client secrets) and bodies cut
past ``BODY_LIMIT`` characters, so its memory stays bounded. ``Filter`` picks entries by path
(a glob: ``/api/v1/*``), method, instance, status and domain time, as ``GET /_lab/journal``,
``/_lab/journal/count`` and ``ssmlab journal verify`` ask.
"""

from __future__ import annotations

import collections
import fnmatch
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import msgspec

from shared import clockctl

JOURNAL_SIZE = 2000
#: Characters of a body kept (past it the body is cut and marked ``truncated``).
BODY_LIMIT = 4096
MASK = "***"
HEADERS_KEPT, HEADER_LIMIT = 40, 512
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-csrf-token"})
#: A field whose name ends in one of these words holds a secret (``token``, ``access_token``,
#: ``client_secret``, ``private_key``, ``password``), never ``token_id`` or ``key_id``.
_SECRET_NAME = re.compile(r"(?:^|[_\-.])(token|secret|password|passwd|key|authorization|assertion)$", re.IGNORECASE)
#: ``"name": "value"`` inside text that is not JSON as a whole (a Call Home envelope, a JWS).
_QUOTED_PAIR = re.compile(r'("([A-Za-z0-9_\-.]+)"\s*:\s*)"((?:[^"\\]|\\.)*)"')
_Text = Annotated[str, msgspec.Meta(max_length=512)]


def secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers with the secret ones masked (an Authorization keeps its scheme); at most
    ``HEADERS_KEPT`` of them, each value cut at ``HEADER_LIMIT`` characters."""
    kept: dict[str, str] = {}
    for name, whole in list(headers.items())[:HEADERS_KEPT]:
        value = whole[:HEADER_LIMIT]
        if name.lower() in _SECRET_HEADERS or secret_name(name):
            scheme, _, rest = value.partition(" ")
            kept[name] = f"{scheme} {MASK}" if name.lower().endswith("authorization") and rest else MASK
        else:
            kept[name] = value
    return kept


def _mask_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (MASK if secret_name(str(k)) and v not in (None, "") else _mask_json(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_json(v) for v in value]
    return value


def _mask_pair(m: re.Match[str]) -> str:
    return f'{m.group(1)}"{MASK}"' if secret_name(m.group(2)) else m.group(0)


def mask_body(data: bytes, ctype: str) -> str:
    """The body as text with every secret field masked: JSON by its keys, a form by its field
    names, any other text by its ``"name": "value"`` pairs."""
    text = data.decode("utf-8", errors="replace")
    if ctype == "application/x-www-form-urlencoded" and "=" in text and not text.lstrip().startswith("{"):
        pairs = urllib.parse.parse_qsl(text, keep_blank_values=True)
        return urllib.parse.urlencode([(k, MASK if secret_name(k) and v else v) for k, v in pairs], safe="*")
    try:
        return json.dumps(_mask_json(json.loads(text)), separators=(",", ":"))
    except (ValueError, RecursionError):
        return _QUOTED_PAIR.sub(_mask_pair, text)


def body_view(data: bytes | None, ctype: str, *, size: int | None = None) -> dict[str, Any]:
    """``{"body", "size", "truncated"}`` of a request or reply (masked, cut at BODY_LIMIT);
    ``size``: the whole body's, when ``data`` is what was kept of it."""
    if not data:
        return {"body": None, "size": 0, "truncated": False}
    whole = len(data) if size is None else size
    text = mask_body(data, ctype)
    return {"body": text[:BODY_LIMIT], "size": whole, "truncated": len(text) > BODY_LIMIT or whole > len(data)}


@dataclass(frozen=True, slots=True)
class Side:
    """A request's or a reply's headers and body as they came. Masked only when shown
    (``view``): the request path pays for a copy, not for parsing and masking every body."""

    headers: tuple[tuple[str, str], ...]
    body: bytes | None
    size: int
    ctype: str

    @classmethod
    def capture(cls, headers: Mapping[str, str], body: bytes | None, ctype: str) -> Side:
        kept = body[: 4 * BODY_LIMIT] if body else None
        return cls(tuple(headers.items())[:HEADERS_KEPT], kept, len(body) if body else 0, ctype)

    def view(self) -> dict[str, Any]:
        return {"headers": mask_headers(dict(self.headers)), **body_view(self.body, self.ctype, size=self.size)}


def _shown(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v.view() if isinstance(v, Side) else v for k, v in entry.items()}


class Filter(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Which entries: every given field must match (``GET /_lab/journal`` and ``/count`` query)."""

    path: _Text | None = None
    method: Annotated[str, msgspec.Meta(max_length=16)] | None = None
    instance: _Text | None = None
    status: Annotated[str, msgspec.Meta(max_length=16)] | None = None
    since: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    until: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=JOURNAL_SIZE)] = 100


def _instant(text: str | None) -> datetime | None:
    return clockctl.parse_instant(text) if text else None


def matcher(f: Filter, piids: Iterable[str] = ()) -> Any:
    """A predicate over entries; ``piids``: the instance ids ``f.instance`` names (an id, or the
    ids of the instances of that name, which the caller looked up)."""
    since, until = _instant(f.since), _instant(f.until)
    wanted = {f.instance, *piids} if f.instance is not None else None

    def match(e: dict[str, Any]) -> bool:
        if f.path is not None and not fnmatch.fnmatchcase(str(e["path"]), f.path):
            return False
        if f.method is not None and str(e["method"]).upper() != f.method.upper():
            return False
        if wanted is not None and e.get("piid") not in wanted:
            return False
        if f.status is not None and str(e["status"]) != f.status:
            return False
        if since is not None or until is not None:
            at = datetime.fromisoformat(str(e["at"]))
            if (since is not None and at < since) or (until is not None and at > until):
                return False
        return True

    return match


class Journal:
    """The ring of the last requests (oldest first), each numbered (``seq``) in arrival order."""

    def __init__(self, size: int = JOURNAL_SIZE) -> None:
        self._ring: collections.deque[dict[str, Any]] = collections.deque(maxlen=size)
        self._seq = 0

    def append(self, entry: dict[str, Any]) -> None:
        self._seq += 1
        self._ring.append({"seq": self._seq, **entry})

    def clear(self) -> int:
        removed = len(self._ring)
        self._ring.clear()
        return removed

    def __len__(self) -> int:
        return len(self._ring)

    def __iter__(self) -> Any:
        return iter([_shown(e) for e in self._ring])

    def find(self, match: Any) -> list[dict[str, Any]]:
        """The entries ``match`` picks, as shown (secrets masked)."""
        return [_shown(e) for e in self._ring if match(e)]
