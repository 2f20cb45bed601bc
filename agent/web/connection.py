"""How the agent reaches the SSM, on the page: Transport Settings (a dialog on every page, agent
wide), the connection diagnosis (``smart-agent diagnose``: the verdict, each step, the fix) and
the truststore (list, import a PEM or DER file, remove), on the Connection page.

The actions are the agent's own (``Agent.set_transport`` checks the URL rules and refuses with
the rule, the code, the fix and the URL to use; ``Agent.diagnose``; ``Agent.trust_import`` and
``trust_remove``), so the page refuses exactly as ``smart-agent transport set`` and
``smart-agent trust import`` do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from agent.daemon import Agent
from agent.diagnose import Report
from agent.keys import AGENT
from agent.web import context
from agent.web.respond import Flash, Part, posted, read_form, respond
from plumbing.web import pages
from shared.errors import BadRequest
from shared.states import ConnectionMode, TransportMode
from shared.transportsettings import Port, TransportSettings


class TransportForm(msgspec.Struct, frozen=True):
    mode: TransportMode = TransportMode.SMART_TRANSPORT
    connection: ConnectionMode = ConnectionMode.DIRECT
    url: str | None = None
    proxy_host: str | None = None
    proxy_port: Port | None = None
    #: the "Use this URL" button of a refusal: Transport Gateway with the suggested URL
    use_url: str | None = None

    def settings(self) -> TransportSettings:
        """The settings the form means: only the chosen connection's fields (as the CLI sends)."""
        if self.use_url:
            return TransportSettings(mode=self.mode, connection=ConnectionMode.GATEWAY, url=self.use_url)
        if self.connection is ConnectionMode.GATEWAY:
            return TransportSettings(mode=self.mode, connection=self.connection, url=self.url)
        if self.connection is ConnectionMode.PROXY:
            return TransportSettings(
                mode=self.mode, connection=self.connection, proxy_host=self.proxy_host, proxy_port=self.proxy_port
            )
        return TransportSettings(mode=self.mode, connection=self.connection)


class DiagnoseForm(msgspec.Struct, frozen=True):
    url: str | None = None


def trust(agent: Agent) -> dict[str, Any]:
    return {"path": str(agent.transport.truststore.path), "entries": [e.view() for e in agent.trust_list()]}


def page_context(agent: Agent) -> dict[str, Any]:
    return {"transport": context.transport(agent), "trust": trust(agent), "report": None, "trust_flash": None}


async def connection_page(
    request: web.Request, flash: Flash | None = None, *, report: Report | None = None, trust_flash: Flash | None = None
) -> web.Response:
    """Transport Settings, the connection diagnosis and the truststore."""
    agent = request.app[AGENT]
    ctx = {
        **context.chrome(agent),
        **page_context(agent),
        "flash": flash,
        "report": report,
        "trust_flash": trust_flash,
        "title": "Connection to the SSM",
        "section": "connection",
        "alerts_href": "/compliance#alerts",
    }
    return pages.render("connection.html", request, ctx)


async def transport(request: web.Request) -> web.Response:
    """Save the Transport Settings; a refused URL is shown with its rule and the URL to use."""
    agent = request.app[AGENT]
    shown: dict[str, Any] = {}

    async def act() -> Flash:
        form = await read_form(request, TransportForm)
        shown.update(mode=form.mode, connection=form.connection, url=form.url, proxy_host=form.proxy_host)
        shown.update(proxy_port=form.proxy_port)
        # the page has no revocation control: the setting the agent keeps stays (smart-agent transport set)
        kept = agent.transport.settings.revocation
        saved = await agent.set_transport(msgspec.structs.replace(form.settings(), revocation=kept))
        shown.clear()  # saved: the form shows the settings as the agent keeps them
        via = f" via {saved.proxy_url}" if saved.proxy_url else ""
        return Flash(notice=f"Transport Settings saved: {saved.mode}, {saved.connection}, {saved.effective_url}{via}.")

    def part() -> Part:
        t = context.transport(agent)
        return Part("form_transport.html", {"t": t, "values": shown or None})

    return await respond(request, act, page=connection_page, part=part)


async def diagnose(request: web.Request) -> web.Response:
    """Check every step to the SSM (the saved URL, or one given): the verdict, each step, the fix."""
    agent = request.app[AGENT]
    done: dict[str, Report] = {}

    async def act() -> Flash:
        form = await read_form(request, DiagnoseForm)
        done["report"] = await agent.diagnose(form.url)
        return Flash()

    async def page(req: web.Request, flash: Flash) -> web.Response:
        return await connection_page(req, flash if flash.error else None, report=done.get("report"))

    return await respond(request, act, page=page, part=lambda: Part("diagnosis.html", {"report": done.get("report")}))


async def trust_import(request: web.Request) -> web.Response:
    """Import a certificate (PEM or DER file) into the truststore under an alias."""
    agent = request.app[AGENT]

    async def act() -> Flash:
        form = await posted(request)
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            raise BadRequest(
                "no certificate file was chosen",
                code="certificate_file_missing",
                fix="choose the certificate file (PEM or DER), e.g. the SSM's root CA",
            )
        entry = agent.trust_import(str(form.get("alias", "")).strip(), upload.file.read())
        view = entry.view()
        return Flash(notice=f"Certificate was added to the truststore as {view['alias']}: {view['subject']}.")

    return await _trust_answer(request, act)


async def trust_remove(request: web.Request) -> web.Response:
    """Stop trusting a certificate."""
    agent = request.app[AGENT]
    alias = request.match_info["alias"]

    async def act() -> Flash:
        view = agent.trust_remove(alias).view()
        return Flash(notice=f"{view['alias']} removed from the truststore ({view['subject']}).")

    return await _trust_answer(request, act)


async def _trust_answer(request: web.Request, act: Callable[[], Awaitable[Flash]]) -> web.Response:
    agent = request.app[AGENT]

    async def page(req: web.Request, flash: Flash) -> web.Response:
        return await connection_page(req, trust_flash=flash)

    return await respond(request, act, page=page, part=lambda: Part("truststore.html", {"trust": trust(agent)}))
