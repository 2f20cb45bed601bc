"""The License Management page as text: Smart Licensing Status (seed Table 2) and the License
consumption summary (seed Table 5), from the local API's JSON."""

from __future__ import annotations

from typing import Any

from plumbing.cmdline import Column, table


def _when(iso: str | None) -> str:
    return f" ({iso.replace('T', ' ').replace('+00:00', ' UTC')})" if iso else ""


def _status_rows(v: dict[str, Any]) -> list[tuple[str, str]]:
    auth = v["license_authorization_status"]
    if v.get("evaluation_remaining"):
        auth_text = f"{auth} ({v['evaluation_remaining']} remaining)"
    else:
        auth_text = auth + _when(v.get("authorization_time"))
    rows = [
        ("Registration Status", v["registration_status"] + _when(v.get("registration_time"))),
        ("License Authorization Status", auth_text),
        ("Export-Controlled Functionality", v["export_controlled_functionality"]),
    ]
    if v["registration_status"] != "Unregistered":
        rows += [
            ("Smart Account", v.get("smart_account") or "-"),
            ("Virtual Account", v.get("virtual_account") or "-"),
            ("Product Instance Name", v["product_instance_name"]),
            ("Serial Number", v["serial_number"]),
        ]
        for label, key in (
            ("Next Authorization Renewal", "next_authorization_renewal"),
            ("Authorization Expires", "authorization_expires"),
            ("Next Registration Renewal", "next_registration_renewal"),
            ("Registration Expires", "registration_expires"),
        ):
            if v.get(key):
                rows.append((label, _when(v[key]).strip(" ()")))
    if v.get("reservation_request_code") and v["registration_status"] == "Reservation In Progress":
        rows.append(("Reservation request code", v["reservation_request_code"]))
    if v.get("reservation_confirmation_code"):
        rows.append(("Reservation confirmation code", v["reservation_confirmation_code"]))
        held = ", ".join(f"{e['name']} {e['reported']}" for e in v.get("entitlements", []))
        rows.append(("Reserved licenses", held or "-"))
    if v.get("out_of_compliance_since"):
        rows.append(("Out of Compliance since", _when(v["out_of_compliance_since"]).strip(" ()")))
        if v.get("out_of_compliance_reason"):
            rows.append(("Out of Compliance reason", v["out_of_compliance_reason"]))
    if v.get("enforcement"):
        rows.append(("Enforcement", f"{v['enforcement']} (since {_when(v.get('enforcement_since')).strip(' ()')})"))
    if v.get("way_out"):
        rows.append(("Way out", v["way_out"]))
    reason = v.get("reason")
    if reason:
        rows.append(("Last failure", f"{reason['code']}: {reason['message']}"))
        if reason.get("fix"):
            rows.append(("Fix", reason["fix"]))
    return rows


def render_status(v: dict[str, Any]) -> str:
    """Seed Table 2 for one instance, as the License Management page shows it."""
    head = (
        f"{v['product_instance_name']} — {v['product']}, {v['deployment_type']} "
        f"({v['license_type']} {v['usage_mode']}, SN {v['serial_number']})"
    )
    rows = ((f"{label}:", value) for label, value in _status_rows(v))
    return head + "\nSmart Licensing Status\n" + table(("FIELD", "VALUE"), rows, header=False, gap=1, indent=2)


def render_consumption(result: dict[str, Any]) -> str:
    """Seed Table 5 for one instance."""
    rows = ((c["license_name"], c["usage_count"], c["actual_usage"], c["status"]) for c in result["consumption"])
    columns = ("License Name", Column("Usage Count", "right"), Column("Actual", "right"), "Status")
    return f"License consumption summary — {result['instance']}\n" + table(columns, rows, indent=2)
