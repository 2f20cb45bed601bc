"""One finding of the TLS diagnosis: a stable code, a message naming the certificate, and a fix a
person can run, plus ``fix_kind``/``fix_arg`` for programs (the lab's ``apply_fix``).

Pure: no IO.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cryptography import x509

from shared import pki


class FixKind(StrEnum):
    SET_URL = "set_url"
    TRUST_IMPORT = "trust_import"
    SSM_CERTIFICATE = "ssm_certificate"


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    message: str
    fix: str = ""
    fix_kind: FixKind | None = None
    fix_arg: str = ""

    def detail(self) -> dict[str, str | int | float | bool | None]:
        return {"fix_kind": str(self.fix_kind) if self.fix_kind else None, "fix_arg": self.fix_arg or None}


def lab_mode(ssm: str, mode: str = "good") -> str:
    """The lab's command that makes the SSM at ``ssm`` serve drill ``mode`` (the good one by default)."""
    return f"ssm-server tls --url {ssm} set {mode}"


def ssm_side(code: str, message: str, fix: str, ssm: str, mode: str = "good") -> Finding:
    """A finding fixed on the SSM: ``fix`` and the lab command that serves ``mode`` instead."""
    return Finding(code, message, f"{fix} (lab: {lab_mode(ssm, mode)})", FixKind.SSM_CERTIFICATE, mode)


def cn(cert: x509.Certificate) -> str:
    return f"'{pki.common_name(cert) or cert.subject.rfc4514_string()}'"


def when(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


def which(i: int, cert: x509.Certificate) -> str:
    """How a message names the ``i``-th certificate served."""
    return "the SSM's certificate" if i == 0 else f"the CA certificate {cn(cert)} the SSM sent"
