"""The catalog of stable error codes of the device plane and the Smart Agent.

A code is what a script or a person matches on: it travels in JSON error bodies (``"error"``),
in ``smart-agent status`` (``Last failure``), in SmartAgent.log and in the agent's event log.
Values never change; members are named after them. Code that compares or raises one of these
uses the member, not a string literal, so a typo is an AttributeError, not a silent mismatch.

``ErrorCode`` is a ``StrEnum``: a member equals its string (``ErrorCode.INSTANCE_REMOVED ==
"instance_removed"``), so errors decoded from the wire compare with members directly.

Pure: no IO, no clock.
"""

from __future__ import annotations

from enum import StrEnum, unique


@unique
class ErrorCode(StrEnum):
    # -- the SSM's refusals on the device plane (the agent receives them as RemoteError) --------
    ALREADY_REGISTERED = "already_registered"
    #: Mutual TLS on the device plane (``shared.clientcert``): the ID certificate presented.
    CLIENT_CERT_EXPIRED = "client_cert_expired"
    CLIENT_CERT_MISMATCH = "client_cert_mismatch"
    CLIENT_CERT_MISSING = "client_cert_missing"
    CLIENT_CERT_NOT_YET_VALID = "client_cert_not_yet_valid"
    CLIENT_CERT_REVOKED = "client_cert_revoked"
    CSR_KEY_UNSUPPORTED = "csr_key_unsupported"
    CSR_SIGNATURE_INVALID = "csr_signature_invalid"
    INSTANCE_ALREADY_REMOVED = "instance_already_removed"
    INSTANCE_NOT_FOUND = "instance_not_found"
    #: The SSM removed the product instance: the agent unregisters it, entitlements Disabled.
    INSTANCE_REMOVED = "instance_removed"
    INVALID_MESSAGE = "invalid_message"
    INVALID_REPORT = "invalid_report"
    MALFORMED_JSON = "malformed_json"
    MALFORMED_JWS = "malformed_jws"
    REGISTRATION_EXPIRED = "registration_expired"
    REQUEST_REPLAYED = "request_replayed"
    REQUEST_STALE = "request_stale"
    SIGNATURE_INVALID = "signature_invalid"
    SIGNATURE_REQUIRED = "signature_required"
    SIGNER_MISMATCH = "signer_mismatch"
    SIGNER_MISSING = "signer_missing"
    SIGNER_UNKNOWN = "signer_unknown"
    TOKEN_EXPIRED = "token_expired"  # noqa: S105 - a code, not a secret
    TOKEN_MALFORMED = "token_malformed"  # noqa: S105 - a code, not a secret
    TOKEN_REVOKED = "token_revoked"  # noqa: S105 - a code, not a secret
    TOKEN_UNKNOWN = "token_unknown"  # noqa: S105 - a code, not a secret
    TOKEN_USED_UP = "token_used_up"  # noqa: S105 - a code, not a secret
    XML_TOO_LARGE = "xml_too_large"

    # -- the agent's transport: the SSM could not be reached, or its reply is not acceptable -----
    COMM_FAILED = "comm_failed"
    CONNECTION_FAILED = "connection_failed"
    CONNECTION_LOST = "connection_lost"
    DNS_FAILED = "dns_failed"
    #: The SSM dropped the handshake that presented the ID certificate, and asks for one without it.
    ID_CERT_REFUSED = "id_cert_refused"
    PROXY_REFUSED = "proxy_refused"
    PROXY_UNREACHABLE = "proxy_unreachable"
    PROXY_UPSTREAM_FAILED = "proxy_upstream_failed"
    REPLY_MALFORMED = "reply_malformed"
    REPLY_MISMATCH = "reply_mismatch"
    REPLY_SIGNER_UNKNOWN = "reply_signer_unknown"
    REPLY_SIGNER_UNTRUSTED = "reply_signer_untrusted"
    REPLY_UNSIGNED = "reply_unsigned"
    TIMEOUT = "timeout"
    #: The handshake refused the SSM's certificate; the agent examines it for the precise cause.
    TLS_CERTIFICATE_INVALID = "tls_certificate_invalid"
    TLS_HANDSHAKE_FAILED = "tls_handshake_failed"
    TRUSTSTORE_UNREADABLE = "truststore_unreadable"

    # -- the agent's actions refused in the instance's state (seed: the "Action" menu) ----------
    AUTHORIZATION_CODE_OUTDATED = "authorization_code_outdated"
    DEREGISTER_FIRST = "deregister_first"
    ENFORCEMENT = "enforcement"
    INSTANCE_REQUIRED = "instance_required"
    NO_RESERVATION = "no_reservation"
    NOT_REGISTERED = "not_registered"
    RESERVATION_IN_PLACE = "reservation_in_place"
    RESERVATION_IN_PROGRESS = "reservation_in_progress"
    SERIAL_EXISTS = "serial_exists"
    SERIAL_NOT_GENERATED = "serial_not_generated"
    SMART_AGENT_DISABLED = "smart_agent_disabled"

    # -- bad input to the agent --------------------------------------------------------------
    INVALID_PROFILE = "invalid_profile"
    INVALID_USAGE = "invalid_usage"
    UNKNOWN_LICENSE = "unknown_license"
