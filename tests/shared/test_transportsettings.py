"""The URL rules and the Transport Settings checks: a table of URLs per mode, each refusal
naming its rule and suggesting the URL that would pass."""

from __future__ import annotations

import pytest

from shared.errors import BadRequest
from shared.states import ConnectionMode, TransportMode
from shared.transportsettings import (
    CALL_HOME_URL,
    SMART_TRANSPORT_URL,
    TransportSettings,
    UrlRefused,
    UrlRule,
    check_settings,
    check_url,
    decode_settings,
    encode_settings,
    initial_settings,
)

ST = TransportMode.SMART_TRANSPORT
CH = TransportMode.CALL_HOME

ACCEPTED = [
    (ST, SMART_TRANSPORT_URL),
    (ST, "https://ssm-onprem.example.com/SmartTransport"),
    (ST, "https://10.78.26.16:8443/SmartTransport"),
    (ST, "https://127.0.0.1:8443/licservice/license"),
    (ST, "https://[::1]:8443/licservice/license"),
    (CH, CALL_HOME_URL),
    (CH, "https://10.78.26.16/Transportgateway/services/DeviceRequestHandler"),
    (CH, "https://tools.cisco.com:8443/its/service/oddce/services/DDCEService"),
]


@pytest.mark.parametrize(("mode", "url"), ACCEPTED)
def test_urls_that_fit_their_mode_pass(mode: TransportMode, url: str) -> None:
    """Each accepted URL passes the rules of its mode and keeps its host, port and path."""
    checked = check_url(url, mode)
    assert checked.url == url
    assert checked.path in url


HTTPS, PATH, FORM = UrlRule.HTTPS_ONLY, UrlRule.PATH_FITS_MODE, UrlRule.WELL_FORMED
EX = "https://ssm.example.com"
ST_CLOUD, ST_ONPREM = "/licservice/license", "/SmartTransport"
CH_CLOUD, CH_ONPREM = "/its/service/oddce/services/DDCEService", "/Transportgateway/services/DeviceRequestHandler"

# (mode, url, rule broken, code, the URL suggested)
REFUSED = [
    (ST, "http://smartreceiver.cisco.com" + ST_CLOUD, HTTPS, "url_not_https", SMART_TRANSPORT_URL),
    (ST, "http://10.0.0.5:8080" + ST_ONPREM, HTTPS, "url_not_https", "https://10.0.0.5:8080" + ST_ONPREM),
    (ST, "ftp://ssm.example.com" + ST_CLOUD, HTTPS, "url_not_https", EX + ST_CLOUD),
    (ST, "https://tools.cisco.com" + CH_CLOUD, PATH, "url_path_other_mode", "https://tools.cisco.com" + ST_CLOUD),
    (ST, EX + CH_ONPREM, PATH, "url_path_other_mode", EX + ST_ONPREM),
    (CH, SMART_TRANSPORT_URL, PATH, "url_path_other_mode", "https://smartreceiver.cisco.com" + CH_CLOUD),
    (CH, EX + ":8443" + ST_ONPREM, PATH, "url_path_other_mode", EX + ":8443" + CH_ONPREM),
    (ST, EX + "/smarttransport", PATH, "url_path_wrong", EX + ST_ONPREM),
    (ST, EX + ST_CLOUD + "/", PATH, "url_path_wrong", EX + ST_CLOUD),
    (ST, EX + "/", PATH, "url_path_wrong", EX + ST_CLOUD),
    (CH, EX + "/api/v1", PATH, "url_path_wrong", EX + CH_CLOUD),
    (ST, "smartreceiver.cisco.com" + ST_CLOUD, FORM, "url_malformed", None),
    (ST, "https://user:pw@ssm.example.com" + ST_CLOUD, FORM, "url_malformed", None),
    (ST, EX + ST_CLOUD + "?x=1", FORM, "url_malformed", None),
    (ST, EX + ":99999" + ST_CLOUD, FORM, "url_malformed", None),
]


@pytest.mark.parametrize(("mode", "url", "rule", "code", "suggestion"), REFUSED)
def test_urls_breaking_a_rule_are_refused_naming_it(
    mode: TransportMode, url: str, rule: UrlRule, code: str, suggestion: str | None
) -> None:
    """A refused URL names its rule, has a stable code, and suggests the URL that passes."""
    with pytest.raises(UrlRefused) as exc:
        check_url(url, mode)
    err = exc.value
    assert (err.rule, err.code, err.suggestion) == (rule, code, suggestion)
    assert f"URL rule '{rule}'" in err.message
    if suggestion:
        assert suggestion in err.fix
        check_url(suggestion, mode)  # the suggestion itself passes


def test_other_mode_refusal_also_offers_switching_the_mode() -> None:
    """A Call Home URL under Smart Transport names the mode it belongs to."""
    with pytest.raises(UrlRefused) as exc:
        check_url(CALL_HOME_URL, ST)
    assert "Smart Call Home (Deprecated)" in exc.value.fix


SETTINGS_REFUSED = [
    (TransportSettings(connection=ConnectionMode.GATEWAY), "url_required"),
    (TransportSettings(connection=ConnectionMode.DIRECT, url="https://10.0.0.5/SmartTransport"), "url_not_applicable"),
    (TransportSettings(connection=ConnectionMode.PROXY, proxy_port=3128), "proxy_invalid"),
    (TransportSettings(connection=ConnectionMode.PROXY, proxy_host="bad host!", proxy_port=3128), "proxy_invalid"),
    (TransportSettings(connection=ConnectionMode.PROXY, proxy_host="proxy.example.com"), "proxy_invalid"),
    (TransportSettings(mode=CH, connection=ConnectionMode.GATEWAY, url=SMART_TRANSPORT_URL), "url_path_other_mode"),
]


@pytest.mark.parametrize(("settings", "code"), SETTINGS_REFUSED)
def test_settings_refusals_have_codes(settings: TransportSettings, code: str) -> None:
    """Incomplete or contradictory settings are refused with a stable code and a fix."""
    with pytest.raises(BadRequest) as exc:
        check_settings(settings)
    assert exc.value.code == code and exc.value.fix


def test_effective_url_follows_mode_and_connection() -> None:
    """Direct and proxy post to the mode's default URL; a gateway to its own URL."""
    assert TransportSettings().effective_url == SMART_TRANSPORT_URL
    assert TransportSettings(mode=CH).effective_url == CALL_HOME_URL
    proxied = check_settings(
        TransportSettings(mode=CH, connection=ConnectionMode.PROXY, proxy_host="proxy.lab", proxy_port=3128)
    )
    assert proxied.effective_url == CALL_HOME_URL and proxied.proxy_url == "http://proxy.lab:3128"
    gw = check_settings(TransportSettings(connection=ConnectionMode.GATEWAY, url="https://10.0.0.5/SmartTransport"))
    assert gw.effective_url == "https://10.0.0.5/SmartTransport" and gw.proxy_url is None


@pytest.mark.parametrize(
    ("mode", "url", "proxy", "connection", "effective"),
    [
        ("smart-transport", None, None, ConnectionMode.DIRECT, SMART_TRANSPORT_URL),
        ("Smart Transport", SMART_TRANSPORT_URL, None, ConnectionMode.DIRECT, SMART_TRANSPORT_URL),
        ("call-home", None, None, ConnectionMode.DIRECT, CALL_HOME_URL),
        (
            "smart-transport",
            "https://127.0.0.1:8443/licservice/license",
            None,
            ConnectionMode.GATEWAY,
            "https://127.0.0.1:8443/licservice/license",
        ),
        ("Smart Call Home (Deprecated)", None, "127.0.0.1:3128", ConnectionMode.PROXY, CALL_HOME_URL),
    ],
)
def test_initial_settings_from_agent_toml(
    mode: str, url: str | None, proxy: str | None, connection: ConnectionMode, effective: str
) -> None:
    """agent.toml's url/mode/proxy map onto Direct, Transport Gateway or proxy."""
    s = initial_settings(mode=mode, url=url, proxy=proxy)
    assert s.connection is connection and s.effective_url == effective


def test_settings_round_trip_and_bad_json() -> None:
    """Saved settings decode to the same value; bad JSON is invalid_body, not a crash."""
    s = check_settings(TransportSettings(connection=ConnectionMode.PROXY, proxy_host="10.0.0.9", proxy_port=8080))
    assert decode_settings(encode_settings(s)) == s
    for bad in (b"{", b'{"mode": "Carrier Pigeon"}', b'{"proxy_port": 0, "connection": "HTTP/HTTPS Proxy"}'):
        with pytest.raises(BadRequest) as exc:
            decode_settings(bad)
        assert exc.value.code == "invalid_body"
