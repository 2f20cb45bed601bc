"""The agent.toml of the lab: what ssmlab writes once, and the entries it points at its
processes at each start (``point_agent_toml``); the rest of the file is the user's.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: The [resolve] entries ssmlab owns in agent.toml: each start points them at the lab's SSM. The
#: last is the host name the 'wrong-host' TLS drill's certificate names ('ssmlab tls wrong-host').
LAB_RESOLVE = ("smartreceiver.cisco.com:443", "tools.cisco.com:443", "wrong-host.ssmlab.example:443")

AGENT_TOML = """\
# Written by ssmlab. Edit freely; 'ssmlab run --fresh' writes it again.
data_dir = "agent"
api = "127.0.0.1:{agent_port}"
log_format = "json"

[transport]
url = "https://smartreceiver.cisco.com/licservice/license"
truststore = "{truststore}"

[resolve]
# ssmlab points these at the lab's SSM at each start; entries you add are left as they are.
{resolve}
{instances}"""


def point_agent_toml(text: str, *, ssm_port: int, agent_port: int) -> str:
    """agent.toml with the lab's own entries pointed at its processes: the local API's address and
    the [resolve] entries of ``LAB_RESOLVE`` that lead to loopback. Nothing else changes: not an
    entry of the user's own, nor one of the lab's that the user pointed elsewhere."""
    text = re.sub(r'(?m)^api = "127\.0\.0\.1:\d+"', f'api = "127.0.0.1:{agent_port}"', text)
    for key in LAB_RESOLVE:
        text = re.sub(rf'(?m)^("{re.escape(key)}" = )"127\.0\.0\.1:\d+"', rf'\g<1>"127.0.0.1:{ssm_port}"', text)
    return text


def instance_toml(spec: dict[str, Any]) -> str:
    lines = ["", "[[instances]]"]
    for key, value in spec.items():
        if key in ("usage_profile",):
            continue
        if isinstance(value, dict):
            inner = ", ".join(f'"{k}" = {v}' for k, v in value.items())
            lines.append(f"{key} = {{ {inner} }}")
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    if "usage_profile" in spec:
        steps = ", ".join(
            "{{ after = {}, set = {{ {} }} }}".format(
                json.dumps(s["after"]), ", ".join(f'"{k}" = {v}' for k, v in s["set"].items())
            )
            for s in spec["usage_profile"]
        )
        lines.append(f"usage_profile = [ {steps} ]")
    return "\n".join(lines) + "\n"
