"""Deterministic seeded rows, generated on demand instead of stored.

Row `i` of a seeded table is a pure function of (environment, table, i): its id embeds `i`
(`<table prefix><i as 12 hex digits>`), so a read by id, a page from any position and the
lookups between tables need no index, and a million seeded rows cost no memory until they are
changed. Only changed, created and deleted rows are stored (`store.py`).

Raw row form (what `store.py` keeps and `render.py` turns into Web API JSON): column logical name
-> value; a lookup is a `(target table, id)` pair or None; date-times are ISO strings.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

SEEDED_AT = "2024-01-01T08:00:00Z"
# Per table: how many rows `rows=N` seeds. Owners and flow tables are small and fixed.
FIXED_COUNTS = {"systemuser": 3, "team": 1, "workflow": 5, "connectionreference": 3}
DATA_TABLES = ("account", "contact", "new_project", "annotation", "new_project_contact",
               "new_importlog")

_FIRST = ("Ana", "Ben", "Chloé", "Dev", "Emil", "Fatima", "Gus", "Hana", "Ivo", "Jun", "Kai",
          "Lena", "Mateo", "Noor", "Oskar", "Priya", "Quinn", "Rosa", "Sven", "Tomás")
_LAST = ("Almeida", "Brandt", "Chen", "Dubois", "Eriksen", "Fischer", "García", "Haddad",
         "Ito", "Jansen", "Kowalski", "Larsen", "Moreau", "Novak", "O'Brien", "Petrov")
_COMPANY = ("Contoso", "Fabrikam", "Northwind", "Adventure Works", "Tailspin", "Litware",
            "Proseware", "Woodgrove", "Wingtip", "Alpine Ski House", "Coho Winery", "Lamna")
_SUFFIX = ("Ltd", "GmbH", "Inc.", "SA", "BV", "AB", "plc", "Oy")
_CITY = ("Lisbon", "Berlin", "Seattle", "Paris", "Oslo", "Madrid", "Tokyo", "Utrecht",
         "Kraków", "Copenhagen", "Lyon", "Dublin")
_JOB = ("Buyer", "CFO", "Engineer", "Account Manager", "Analyst", "Director", "Planner")
_USERS = (("#", "ppbackup"), ("Ana", "Almeida"), ("Ben", "Brandt"))  # the first: the app user
_TEAM = "Contoso Sales"
_CONNECTORS = (
    ("new_sharedcommondataserviceforapps_1", "Dataverse",
     "/providers/Microsoft.PowerApps/apis/shared_commondataserviceforapps"),
    ("new_sharedoffice365_2", "Office 365 Outlook",
     "/providers/Microsoft.PowerApps/apis/shared_office365"),
    ("new_sharedteams_3", "Microsoft Teams", "/providers/Microsoft.PowerApps/apis/shared_teams"),
)


def table_prefix(env_id: str, table: str) -> str:
    """`xxxxxxxx-xxxx-4xxx-8xxx-`: the fixed part of a seeded table's ids in one environment."""
    h = hashlib.sha256(f"{env_id}/{table}".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[12:15]}-8{h[15:18]}-"


def _mix(i: int, salt: int) -> int:
    """splitmix64 of (i, salt): well spread even for small consecutive `i`."""
    x = (i * 0x9E3779B97F4A7C15 + (salt + 1) * 0xD1B54A32D192ED03) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


def _pick(options: tuple[str, ...], i: int, salt: int) -> str:
    return options[_mix(i, salt) % len(options)]


def _date(i: int, days_back: int = 900) -> str:
    day = _mix(i, 7) % days_back
    year, rest = 2021 + day // 365, day % 365
    month, mday = 1 + rest // 31 % 12, 1 + rest % 28
    return f"{year}-{month:02d}-{mday:02d}T{_mix(i, 8) % 24:02d}:{_mix(i, 9) % 60:02d}:00Z"


def seeded_name(table: str, i: int) -> str | None:
    """The primary name of seeded row `i` alone (a lookup's formatted value), cheaply.

    None for tables whose name needs the whole row (`seeded_row` then)."""
    if table == "account":
        return f"{_pick(_COMPANY, i, 1)} {_pick(_CITY, i, 2)} {_pick(_SUFFIX, i, 3)} {i:06d}"
    if table == "contact":
        return f"{_pick(_FIRST, i, 1)} {_pick(_LAST, i, 2)}"
    if table == "new_project":
        return f"Project {_pick(_CITY, i, 4)} {i:06d}"
    if table == "systemuser":
        given, family = _USERS[i % len(_USERS)]
        return f"{given} {family}"
    if table == "team":
        return _TEAM
    return None


IdOf = Callable[[str, int], str]
"""(table, index) -> id of a seeded row."""


def seeded_row(table: str, i: int, counts: dict[str, int], id_of: IdOf) -> dict[str, Any]:
    """Row `i` of `table` in raw form (without the primary id and versionnumber)."""
    def ref(target: str, index: int) -> tuple[str, str] | None:
        n = counts.get(target, 0)
        return (target, id_of(target, index % n)) if n else None

    owner = ref("systemuser", _mix(i, 3) % 2 + 1) if _mix(i, 4) % 10 else ref("team", 0)
    stamp = _date(i)
    inactive = _mix(i, 5) % 10 == 0
    common: dict[str, Any] = {
        "statecode": 1 if inactive else 0, "statuscode": 2 if inactive else 1,
        "ownerid": owner, "createdon": stamp, "modifiedon": stamp,
        "overriddencreatedon": None,
    }
    first, last = _pick(_FIRST, i, 1), _pick(_LAST, i, 2)
    if table == "account":
        return {
            "name": seeded_name(table, i), "accountnumber": f"ACC-{i:07d}",
            "telephone1": f"+1-555-{_mix(i, 6) % 10000:04d}",
            "emailaddress1": f"info{i}@{_pick(_COMPANY, i, 1).lower().replace(' ', '')}.example",
            "address1_city": _pick(_CITY, i, 2),
            "revenue": float(_mix(i, 10) % 50_000_000) + 0.5,
            "numberofemployees": _mix(i, 11) % 5000, "industrycode": 1 + _mix(i, 12) % 33,
            "description": f"Customer since {_date(i)[:4]}. Segment {_mix(i, 13) % 5}.",
            "primarycontactid": ref("contact", i),
            "parentaccountid": ref("account", i // 5) if i % 5 and i >= 5 else None,
            **common,
        }
    if table == "contact":
        parent = ref("account", i) if i % 10 else (ref("contact", i - 1) if i else None)
        return {
            "fullname": seeded_name(table, i), "firstname": first, "lastname": last,
            "emailaddress1": f"{first.lower()}.{i}@example.com",
            "telephone1": f"+44-20-{_mix(i, 6) % 10_000_000:07d}",
            "jobtitle": _pick(_JOB, i, 3), "birthdate": _date(i, 20000)[:10] + "T00:00:00Z",
            "parentcustomerid": parent, **common,
        }
    if table == "new_project":
        return {
            "new_name": seeded_name(table, i), "new_code": f"PRJ-{i:06d}",
            "new_budget": float(_mix(i, 10) % 1_000_000), "new_startdate": _date(i),
            "new_progress": round((_mix(i, 11) % 1000) / 10, 1),
            "new_parentprojectid": ref("new_project", i // 4) if i % 4 and i >= 4 else None,
            "new_accountid": ref("account", i), **common,
        }
    if table == "annotation":
        target = ("account", "contact", "new_project")[i % 3]
        return {
            "subject": f"Call notes {i:06d}",
            "notetext": (f"Spoke with {first} {last} about the {_pick(_CITY, i, 4)} rollout.\n"
                         f"Follow-up #{_mix(i, 12) % 100}: send the revised quote."),
            "isdocument": False, "filename": None, "mimetype": None,
            "objectid": ref(target, i), "objecttypecode": target,
            "ownerid": owner, "createdon": stamp, "modifiedon": stamp,
            "overriddencreatedon": None,
        }
    if table == "new_project_contact":
        n_project, n_contact = counts.get("new_project", 0), counts.get("contact", 0)
        return {
            "new_projectid": id_of("new_project", i % n_project) if n_project else None,
            "contactid": id_of("contact", (i * 7 + i // max(n_project, 1)) % n_contact)
            if n_contact else None,
        }
    if table == "new_importlog":
        return {
            "new_name": f"Import {i:06d}", "new_source": _pick(("sftp", "api", "csv"), i, 1),
            "new_rowcount": _mix(i, 2) % 10000, "new_message": "Completed without errors.",
            **common,
        }
    if table == "systemuser":
        given, family = _USERS[i % len(_USERS)]
        return {
            "fullname": seeded_name(table, i), "firstname": given, "lastname": family,
            "domainname": f"{given.lower()}@contoso.example" if i else "",
            "applicationid": "5f8e3c1a-7b2d-4e6f-9a0b-1c2d3e4f5a6b" if i == 0 else None,
            "isdisabled": False, "createdon": SEEDED_AT, "modifiedon": SEEDED_AT,
        }
    if table == "team":
        return {"name": _TEAM, "teamtype": 0, "createdon": SEEDED_AT,
                "modifiedon": SEEDED_AT}
    if table == "connectionreference":
        logical, display, connector = _CONNECTORS[i % len(_CONNECTORS)]
        return {
            "connectionreferencelogicalname": logical,
            "connectionreferencedisplayname": display, "connectorid": connector,
            # The last one lost its connection (what an environment restore leaves behind).
            "connectionid": None if i == 2 else f"shared-{logical[10:]}-{i:04d}",
            **common,
        }
    if table == "workflow":
        return _workflow(i, counts, id_of, common)
    raise ValueError(f"no seeded rows for table {table!r}")


def _workflow(i: int, counts: dict[str, int], id_of: IdOf,
              common: dict[str, Any]) -> dict[str, Any]:
    # Cloud flows (category 5): two on, one off; plus a classic workflow and a business rule.
    specs = (("Notify owner on new account", 5, 1), ("Sync projects to SharePoint", 5, 1),
             ("Weekly import digest", 5, 0), ("Legacy account workflow", 0, 1),
             ("Require phone for accounts", 2, 1))
    name, category, state = specs[i % len(specs)]
    refs = {}
    n = counts.get("connectionreference", 0)
    for k in range(min(n, 1 + i % 2)):
        logical = _CONNECTORS[(i + k) % len(_CONNECTORS)][0]
        refs[logical] = {"connection": {"connectionReferenceLogicalName": logical},
                         "api": {"name": _CONNECTORS[(i + k) % len(_CONNECTORS)][2]
                                 .rsplit("/", 1)[-1]}}
    clientdata = json.dumps({"properties": {"connectionReferences": refs,
                                            "definition": {"triggers": {}, "actions": {}}},
                             "schemaVersion": "1.0.0.0"}) if category == 5 else None
    return {
        **common, "name": name, "category": category, "type": 1,
        "primaryentity": "account" if category != 5 else "none",
        "clientdata": clientdata, "description": None,
        "statecode": state, "statuscode": 2 if state == 1 else 1,
    }
