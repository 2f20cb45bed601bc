"""The On-Prem's requests to the cloud SSM over the network: a registration, a synchronization.

The answer is verified (signed by the cloud, for this request's nonce); a refusal comes back as a
``RemoteError`` with the cloud's code and fix, an unreachable cloud as ``Unavailable``.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import msgspec

from plumbing.clients.device import OverrideResolver, ReplyVerifier, client_context
from shared import envelope
from shared.errors import RemoteError, Unavailable


async def post(link_url: str, resolve: dict[str, str], truststore: Path, body: bytes, ctype: str, nonce: str) -> object:
    connector = aiohttp.TCPConnector(ssl=client_context(truststore), resolver=OverrideResolver(resolve))
    try:
        async with (
            aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session,
            session.post(link_url, data=body, headers={"Content-Type": ctype}) as resp,
        ):
            text = await resp.text()
            if resp.status == 200 and resp.content_type == envelope.CONTENT_TYPE:
                return ReplyVerifier.from_file(truststore).verify(text.strip(), nonce)
            try:
                err = msgspec.json.decode(text)
            except msgspec.DecodeError:
                err = {}
            raise RemoteError(
                err.get("message", f"the cloud SSM answered HTTP {resp.status}") if isinstance(err, dict) else text,
                code=err.get("error", f"http_{resp.status}") if isinstance(err, dict) else f"http_{resp.status}",
                fix=err.get("fix", "") if isinstance(err, dict) else "",
                remote_status=resp.status,
            )
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Unavailable(
            f"cannot reach the cloud SSM at {link_url}: {exc}",
            code="cloud_unreachable",
            fix="check --cloud, the resolve mapping and that the cloud SSM runs; or use "
            "Disconnected mode (sync export / import)",
        ) from exc
