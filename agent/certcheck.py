"""Examine the SSM's certificate for the current transport settings: probe, keep the
certificates a fix may import, and judge the chain with ``shared.tlsdiag`` at real time.

Certificates a fix may import (the served ones, and the CA the lab SSM offers) are written to
``<data_dir>/diagnose/<alias>.pem`` so the printed ``smart-agent trust import`` and keytool
commands work as they are.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from agent.probe import ProbeResult, probe
from agent.truststore import TrustStore
from shared import pki
from shared.clock import real_now
from shared.errors import SmartLicensingError, Unavailable
from shared.tlsdiag import Assessment, TrustHints, alias_for, assess
from shared.transportsettings import TransportSettings, check_url


@dataclass(frozen=True, slots=True)
class Examination:
    probe: ProbeResult
    assessment: Assessment | None


def _save(folder: Path, certs: list[x509.Certificate]) -> dict[str, str]:
    """Write each certificate to ``<alias>.pem``; return fingerprint -> path."""
    saved: dict[str, str] = {}
    folder.mkdir(parents=True, exist_ok=True)
    for cert in certs:
        fp = pki.fingerprint(cert)
        if fp in saved:
            continue
        path = folder / f"{alias_for(cert)}.pem"
        if str(path) in saved.values():  # two certificates of one name in one chain
            path = folder / f"{alias_for(cert)}-{fp.replace(':', '')[:8].lower()}.pem"
        path.write_bytes(pki.cert_pem(cert))
        saved[fp] = str(path)
    return saved


async def examine(
    settings: TransportSettings,
    truststore: TrustStore,
    *,
    resolve: Mapping[str, str],
    probe_timeout: float,
    workdir: Path,
    url: str | None = None,
    fetch_ca: bool = True,
) -> Examination:
    """Probe ``url`` (default: the settings' URL) and judge what it serves; ``fetch_ca=False`` sends
    no request at all (the SSM's CA offer is then not fetched)."""
    device_url = check_url(url or settings.effective_url, settings.mode)
    proxy = (settings.proxy_host, settings.proxy_port) if settings.proxy_host and settings.proxy_port else None
    result = await asyncio.to_thread(
        probe, device_url, resolve=resolve, proxy=proxy, timeout=probe_timeout, fetch_ca=fetch_ca
    )
    if not result.chain:
        return Examination(result, None)
    saved = await asyncio.to_thread(_save, workdir / "diagnose", [*result.chain, *result.offered])
    assessment = assess(
        device_url,
        result.chain,
        truststore.roots(),
        now=real_now(),  # TLS validity is transport time
        hints=TrustHints(str(truststore.path), saved),
        peer=result.ssm_peer,
        resolve=resolve,
        offered=result.offered,
        tls_version=result.tls_version,
        client_cert_required=result.client_cert_required,
    )
    return Examination(result, assessment)


def failure_of(exam: Examination) -> SmartLicensingError | None:
    """The examination's verdict as an error with the precise code and fix (None: all good)."""
    if exam.probe.error is not None:
        e = exam.probe.error
        return Unavailable(e.message, code=e.code, fix=e.fix)
    if exam.assessment is None or exam.assessment.failure is None:
        return None
    f = exam.assessment.failure
    return Unavailable(f.message, code=f.code, fix=f.fix, detail=f.detail())
