"""The randomness of a product instance's machine, behind one seam so tests can fix it.

Request nonces, new ID keys with their CSR (an ECDSA signature is randomized too) and the
nonce of a reservation request code. ``SystemEntropy`` draws them from the operating system
(``secrets`` and cryptography); a test passes its own ``Entropy`` and gets the same commands on
every run.

Pure: no IO, no clock.
"""

from __future__ import annotations

from typing import Protocol

from shared import envelope, pki, slr


class Entropy(Protocol):
    def nonce(self) -> str:
        """A fresh request nonce."""
        ...

    def identity(self, *, common_name: str, serial_number: str) -> tuple[pki.PrivateKey, str]:
        """A new ID key and the PEM CSR naming the instance, signed with it."""
        ...

    def request_code(self, udi_pid: str, serial_number: str) -> slr.RequestCode:
        """A reservation request code for the instance, with a fresh nonce.

        Raises:
            BadRequest: ``reservation_identity_missing``.
        """
        ...


class SystemEntropy:
    """Randomness from the operating system."""

    def nonce(self) -> str:
        return envelope.new_nonce()

    def identity(self, *, common_name: str, serial_number: str) -> tuple[pki.PrivateKey, str]:
        key = pki.new_key()
        return key, pki.make_csr(key, common_name=common_name, serial_number=serial_number).decode()

    def request_code(self, udi_pid: str, serial_number: str) -> slr.RequestCode:
        return slr.new_request_code(udi_pid, serial_number)
