"""Dataverse-like rows for the data store benchmarks: an account as the Web API returns it with
`odata.include-annotations="*"` less the formatted values (the store's input, contract section 9):
about 60 columns, lookups with their annotations, half of the optional columns null."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

WORDS = (
    "contoso", "fabrikam", "litware", "northwind", "adventure", "works", "tailspin", "wingtip",
    "proseware", "alpine", "ski", "house", "coho", "vineyard", "fourth", "coffee", "margie",
    "travel", "blue", "yonder", "airlines", "graphic", "design", "institute", "humongous",
    "insurance", "lucerne", "publishing", "trey", "research", "wide", "world", "importers",
    "school", "of", "fine", "art", "the", "phone", "company",
)
CITIES = ("Seattle", "Redmond", "Paris", "Berlin", "München", "São Paulo", "Tokyo", "Oslo")
START = datetime(2019, 1, 1, tzinfo=UTC)


def guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def account(n: int, rng: random.Random, owners: list[str]) -> dict[str, Any]:
    created = START + timedelta(seconds=rng.randint(0, 7 * 365 * 86400))
    modified = created + timedelta(seconds=rng.randint(0, 365 * 86400))

    def maybe(value: Any, p: float = 0.5) -> Any:
        return value if rng.random() < p else None

    def lookup(name: str, table: str, value: str | None) -> dict[str, Any]:
        return {
            f"_{name}_value": value,
            f"_{name}_value@Microsoft.Dynamics.CRM.lookuplogicalname": table,
            f"_{name}_value@Microsoft.Dynamics.CRM.associatednavigationproperty": name,
        }

    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3)))
    row: dict[str, Any] = {
        "@odata.etag": f'W/"{rng.randint(10**6, 10**9)}"',
        "accountid": guid(rng),
        "name": f"{words.title()} {n}",
        "accountnumber": f"AC-{rng.randint(100000, 999999)}",
        "telephone1": maybe(f"+1 555 {rng.randint(1000, 9999)}", 0.8),
        "telephone2": maybe(f"+1 555 {rng.randint(1000, 9999)}", 0.2),
        "fax": maybe(f"+1 555 {rng.randint(1000, 9999)}", 0.1),
        "emailaddress1": maybe(f"info{n}@{rng.choice(WORDS)}.example.com", 0.7),
        "websiteurl": maybe(f"https://www.{rng.choice(WORDS)}.example.com", 0.5),
        "revenue": maybe(round(rng.random() * 10**7, 2)),
        "revenue_base": maybe(round(rng.random() * 10**7, 2)),
        "numberofemployees": maybe(rng.randint(1, 100000)),
        "industrycode": maybe(rng.randint(1, 33)),
        "customertypecode": rng.randint(1, 12),
        "accountcategorycode": maybe(rng.randint(1, 2)),
        "accountratingcode": 1,
        "businesstypecode": 1,
        "ownershipcode": maybe(rng.randint(1, 4)),
        "paymenttermscode": maybe(rng.randint(1, 4)),
        "preferredcontactmethodcode": 1,
        "address1_line1": maybe(f"{rng.randint(1, 9999)} {rng.choice(WORDS).title()} Street", 0.8),
        "address1_line2": maybe(f"Suite {rng.randint(1, 999)}", 0.2),
        "address1_city": maybe(rng.choice(CITIES), 0.8),
        "address1_postalcode": maybe(f"{rng.randint(10000, 99999)}", 0.8),
        "address1_country": maybe(rng.choice(("US", "FR", "DE", "BR", "JP", "NO")), 0.8),
        "address1_latitude": maybe(round(rng.uniform(-90, 90), 5), 0.3),
        "address1_longitude": maybe(round(rng.uniform(-180, 180), 5), 0.3),
        "address1_addressid": guid(rng),
        "address2_addressid": guid(rng),
        "description": maybe(" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 60))), 0.3),
        "creditlimit": maybe(float(rng.randint(0, 100) * 1000), 0.3),
        "creditonhold": False,
        "donotemail": rng.random() < 0.1,
        "donotphone": rng.random() < 0.1,
        "marketingonly": False,
        "statecode": 0,
        "statuscode": 1,
        "versionnumber": rng.randint(10**6, 10**9),
        "createdon": created.isoformat().replace("+00:00", "Z"),
        "modifiedon": modified.isoformat().replace("+00:00", "Z"),
        "overriddencreatedon": None,
        "importsequencenumber": maybe(rng.randint(1, 1000), 0.2),
        "timezoneruleversionnumber": maybe(4, 0.5),
        "utcconversiontimezonecode": None,
        "exchangerate": 1.0,
        "stageid": None,
        "processid": None,
        "traversedpath": None,
        "entityimageid": None,
        **{f"new_custom{k}": maybe(rng.randint(0, 10**6), 0.3) for k in range(6)},
        **lookup("ownerid", "systemuser", rng.choice(owners)),
        **lookup("owninguser", "systemuser", rng.choice(owners)),
        **lookup("owningbusinessunit", "businessunit", owners[0]),
        **lookup("createdby", "systemuser", rng.choice(owners)),
        **lookup("modifiedby", "systemuser", rng.choice(owners)),
        **lookup("primarycontactid", "contact", maybe(guid(rng), 0.6)),
        **lookup("parentaccountid", "account", maybe(guid(rng), 0.2)),
        **lookup("transactioncurrencyid", "transactioncurrency", owners[1]),
    }
    return row


def owners(rng: random.Random, count: int = 40) -> list[str]:
    return [guid(rng) for _ in range(count)]
