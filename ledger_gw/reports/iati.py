"""IATI 2.03 activity XML for a report: one activity, its transactions, humanitarian scope.

Transactions are the report's *suppressed* modality totals per currency, never
individual deliveries (those would disclose a person's amount and date). Cash and
voucher deliveries put funds at the recipients' disposal and are reported as
transaction type 3 (Disbursement); in-kind and service deliveries are spending on
goods and services, type 4 (Expenditure) -- IATI TransactionType codelist.
The reporting organisation is named by its profile in the consortium definition (IATI
reference and OrganisationType code, both required); the activity starts on the report's
first day, or for an all-time report on the first day of the month the figures begin.
Each slice of the figures is an activity of its own: its identifier is the reporting
organisation's reference, then the reported organisation (or ``ALL``) and programme (or
``ALL``) joined by ``_``, which neither a member ID nor a programme code contains: two
slices share an identifier only if a member or programme is itself called ALL.
Participants use the OrganisationRole codelist: whoever's figures these are is
Implementing (4), a donor reporting them is Funding (1).
Humanitarian scope uses the HumanitarianScopeType codelist (1 Emergency,
2 Appeal) with vocabulary 1-2 (GLIDE) or 2-1 (Humanitarian Plan).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

from lxml import etree

from ledger_gw.errors import ConfigError
from ledger_gw.identity import Profile
from ledger_gw.interfaces import AnchorName

DISBURSEMENT, EXPENDITURE = "3", "4"
DISBURSED_MODALITIES = frozenset({"cash", "voucher"})
FUNDING, IMPLEMENTING = "1", "4"
#: A GLIDE number (hazard, year, serial, country), as GLIDEnumber.net issues them.
GLIDE = re.compile(r"[A-Z]{2}-[0-9]{4}-[0-9]{6}-[A-Z]{3}")


def _narrative(parent: etree._Element, tag: str, text: str, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, tag, attrs)
    etree.SubElement(el, "narrative").text = text
    return el


def _participant(parent: etree._Element, org: Profile, role: str) -> None:
    """A participating organisation, with its IATI reference and type when it has them."""
    attrs = {"role": role, "ref": org.iati_ref, "type": org.iati_type}
    known = {key: value for key, value in attrs.items() if value is not None}
    _narrative(parent, "participating-org", org.display_name, **known)


def to_iati(
    report: dict[str, Any],
    *,
    reporting: Profile,
    first_day: str,
    implementing: Sequence[Profile] | None = None,
    funding: Profile | None = None,
    glide: str | None = None,
    plan: str | None = None,
    now: dt.datetime | None = None,
) -> bytes:
    """The report as an ``iati-activities`` document (UTF-8 bytes). ``implementing``
    are the organisations whose figures these are (None: the reporting organisation
    reports its own), ``funding`` the donor that funds them, if named."""
    if reporting.iati_ref is None or reporting.iati_type is None:
        raise ConfigError(
            f"the consortium definition gives {reporting.display_name} no "
            f"{'iati_ref' if reporting.iati_ref is None else 'iati_type'}: an IATI export "
            "needs the reporting organisation's IATI reference and type"
        )
    if implementing is not None and not implementing and funding is None:
        raise ConfigError("an IATI activity names at least one participating organisation")
    org_ref, org_type = reporting.iati_ref, reporting.iati_type
    q = report["query"]
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    start = q["start"] or first_day
    end = q["end"] or dt.date.today().isoformat()
    programme = q["programme"] or "ALL"
    slice_id = f"{q['org'] or 'ALL'}_{programme}"
    root = etree.Element("iati-activities", {"version": "2.03", "generated-datetime": stamp})
    reached = report["tables"]["reached"]
    currencies = sorted(reached["amounts"])
    activity = etree.SubElement(
        root,
        "iati-activity",
        {
            "last-updated-datetime": stamp,
            "{http://www.w3.org/XML/1998/namespace}lang": "en",
            "humanitarian": "1",
            **({"default-currency": currencies[0]} if currencies else {}),
        },
    )
    etree.SubElement(activity, "iati-identifier").text = f"{org_ref}-{slice_id}"
    _narrative(activity, "reporting-org", reporting.display_name, ref=org_ref, type=org_type)
    _narrative(activity, "title", f"Programme {programme}, {q['org'] or 'all organisations'}")
    anchor = AnchorName.of(report["anchor"])
    _narrative(
        activity,
        "description",
        f"Assistance recorded on ledger {anchor.ledger} up to size {anchor.size} "
        f"(head {anchor.head}); figures below {q['k']} people suppressed.",
    )
    if funding is not None:
        _participant(activity, funding, FUNDING)
    for org in (reporting,) if implementing is None else implementing:
        _participant(activity, org, IMPLEMENTING)
    etree.SubElement(activity, "activity-status", code="2")
    etree.SubElement(activity, "activity-date", {"type": "2", "iso-date": start})
    if glide:
        etree.SubElement(activity, "humanitarian-scope", type="1", vocabulary="1-2", code=glide)
    if plan:
        etree.SubElement(activity, "humanitarian-scope", type="2", vocabulary="2-1", code=plan)
    for currency in currencies:
        totals = reached["amounts"][currency]["column_totals"]
        for modality, value in zip(reached["columns"], totals, strict=True):
            if value is None:
                continue
            tx = etree.SubElement(activity, "transaction")
            code = DISBURSEMENT if modality in DISBURSED_MODALITIES else EXPENDITURE
            etree.SubElement(tx, "transaction-type", code=code)
            etree.SubElement(tx, "transaction-date", {"iso-date": end})
            val = etree.SubElement(tx, "value", {"currency": currency, "value-date": end})
            val.text = str(value)
            _narrative(tx, "description", f"{modality} assistance delivered, {start} to {end}")
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
