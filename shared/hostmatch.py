"""Does the URL host match the SSM certificate? And if not, which URL or SAN would?

The rule (seed: "The <OnpremCSSM> value must match with the SSM Tomcat Certificate Common Name or
Subject Alternative Name"), as Java's HostnameChecker and OpenSSL apply it:

- an IP address in the URL matches only an IP address SAN, never a DNS SAN or the CN;
- a name matches a DNS SAN (a leading ``*.`` covers one label); a certificate with no DNS SAN
  is matched by its CN instead.

A mismatch is explained with a stable code and the fix: the URL that would work (a name or IP
the certificate carries, reachable the way the agent reached the SSM) or the SAN to add:

    tls_host_ip_vs_name   the URL has an IP; the certificate names DNS names only
    tls_host_name_vs_ip   the URL has a name; the certificate carries IP addresses only
    tls_host_cn_only      the certificate has no SAN and its CN is not the URL host
    tls_host_mismatch     the certificate is for other names (or other IPs)

Pure: no IO, no clock.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509

from shared import pki
from shared.states import TransportMode
from shared.transportsettings import DEFAULT_URL, DeviceUrl, is_ip, with_host


class MatchedBy(StrEnum):
    SAN_DNS = "DNS SAN"
    SAN_IP = "IP SAN"
    CN = "CN (no DNS SAN)"


@dataclass(frozen=True, slots=True)
class CertNames:
    """The names a certificate can be matched by."""

    dns: tuple[str, ...]
    ips: tuple[str, ...]
    cn: str | None
    has_san: bool

    @classmethod
    def of(cls, cert: x509.Certificate) -> CertNames:
        dns, ips = pki.host_names(cert)
        try:
            cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            has_san = True
        except x509.ExtensionNotFound:
            has_san = False
        return cls(tuple(d.lower() for d in dns), tuple(ips), pki.common_name(cert), has_san)

    def describe(self) -> str:
        sans = [f"DNS:{d}" for d in self.dns] + [f"IP:{i}" for i in self.ips]
        if sans:
            return "SAN " + ", ".join(sans)
        return f"no SAN, CN {self.cn}" if self.cn else "no SAN and no CN"


def _dns_match(pattern: str, host: str) -> bool:
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:] and "*" not in rest
    return pattern == host


def _same_ip(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return False


def match_host(host: str, names: CertNames) -> MatchedBy | None:
    """How ``host`` matches the certificate, or None when it does not."""
    if is_ip(host):
        return MatchedBy.SAN_IP if any(_same_ip(host, ip) for ip in names.ips) else None
    if names.dns:
        return MatchedBy.SAN_DNS if any(_dns_match(d, host) for d in names.dns) else None
    if names.cn and not is_ip(names.cn) and _dns_match(names.cn, host):
        return MatchedBy.CN
    return None


@dataclass(frozen=True, slots=True)
class Mismatch:
    code: str
    message: str
    fix: str
    #: The URL that would work, when one can be inferred.
    url: str | None


def _reachable_url(
    url: DeviceUrl, candidates: list[str], peer: tuple[str, int] | None, resolve: Mapping[str, str]
) -> tuple[str, str] | None:
    """(URL, note) for the first candidate the agent can reach the SSM by, preferring ones known
    to lead where the agent connected: the peer IP itself, or a name mapped to it in [resolve]."""
    peer_text = f"{peer[0]}:{peer[1]}" if peer else None
    for host in candidates:
        if is_ip(host) and peer and _same_ip(host, peer[0]):
            return with_host(url, host, peer[1]), ""
        if not is_ip(host):
            for src, dst in resolve.items():
                name, _, port = src.rpartition(":")
                if name.lower() == host and dst == peer_text and port.isdigit():
                    return with_host(url, host, int(port)), ""
    for host in candidates:
        if "*" in host:
            continue
        where = f"{peer[0]}:{peer[1]}" if peer else "the SSM"
        how = "" if is_ip(host) else ": DNS, or [resolve] in agent.toml"
        return with_host(url, host), f" ({host} must lead to the SSM at {where}{how})"
    return None


def set_url_command(url: str) -> str:
    """The command that makes the agent post to ``url``."""
    for mode, default in DEFAULT_URL.items():
        if url == default:
            short = "call-home" if mode is TransportMode.CALL_HOME else "smart-transport"
            return f"smart-agent transport set --mode {short} --direct"
    return f"smart-agent transport set --gateway {url}"


def explain_mismatch(
    url: DeviceUrl,
    names: CertNames,
    *,
    peer: tuple[str, int] | None = None,
    resolve: Mapping[str, str] | None = None,
) -> Mismatch:
    """Why ``url.host`` does not match a certificate with ``names``, and the fix."""
    resolve = resolve or {}
    host = url.host
    kind = "IP" if url.is_ip else "DNS"
    add_san = f"add SAN {kind}:{host} to the SSM certificate"
    if not names.has_san:
        code = "tls_host_cn_only"
        cause = f"the SSM certificate has no Subject Alternative Name and its CN is {names.cn or '(none)'}; " + (
            "an IP address never matches a CN" if url.is_ip else f"the URL host {host} is not that name"
        )
        candidates = [names.cn] if names.cn and not is_ip(names.cn) else []
    elif url.is_ip and not names.ips:
        code = "tls_host_ip_vs_name"
        cause = f"the URL uses the IP address {host}, but the SSM certificate names only {', '.join(names.dns)}"
        candidates = list(names.dns)
    elif not url.is_ip and not names.dns:
        code = "tls_host_name_vs_ip"
        ips = ", ".join(names.ips)
        cause = f"the URL uses the name {host}, but the SSM certificate carries only IP addresses {ips}"
        candidates = list(names.ips)
    else:
        code = "tls_host_mismatch"
        cause = f"the SSM certificate is for {names.describe()[4:]}, not {host}"
        candidates = list(names.ips if url.is_ip else names.dns) or [*names.dns, *names.ips]
    found = _reachable_url(url, candidates, peer, resolve)
    if found is None:
        return Mismatch(code, cause, f"{add_san} (the certificate names no usable host)", None)
    new_url, note = found
    fix = f"use {new_url}{note}: {set_url_command(new_url)} (or {add_san})"
    return Mismatch(code, cause, fix, new_url)
