"""Only the SSM's response-signing certificate signs replies: another certificate of the same CA
(the TLS server's, or a device's ID certificate) is refused, however valid its chain."""

from __future__ import annotations

import pytest

from plumbing.clients.device import ReplyVerifier
from server.pki_files import LabPki
from shared import envelope
from shared.errors import Unauthorized


def test_a_reply_signed_by_the_signing_key_is_accepted(lab_pki: LabPki) -> None:
    signing = lab_pki.signing
    jws = envelope.sign_reply(b"{}", signing.key, [signing.cert, *signing.chain], include_chain=True)
    assert ReplyVerifier([lab_pki.root]).key_for(jws).public_numbers() == signing.key.public_key().public_numbers()


def test_a_reply_signed_by_another_certificate_of_the_ca_is_refused(lab_pki: LabPki) -> None:
    server = lab_pki.server
    jws = envelope.sign_reply(b"{}", server.key, [server.cert, *server.chain], include_chain=True)
    with pytest.raises(Unauthorized) as info:
        ReplyVerifier([lab_pki.root]).key_for(jws)
    assert info.value.code == "reply_signer_untrusted"
