#!/usr/bin/env python3
"""Check that Dossier and PostGraphile answer Q1 and Q2 with the same rows, in the same order,
with the same values (after the loader's documented mapping and the two APIs' shapes).

Usage: same_data.py DOSSIER_Q1.json POSTGRAPHILE_Q1.json DOSSIER_Q2.json POSTGRAPHILE_Q2.json [DOSSIER_Q1_NOPII.json]
Exit status 1 (and the first differences) when they differ or a response carries errors."""
import json
import sys
from datetime import datetime
from decimal import Decimal

CHANNEL = {"organic": "WEB", "paid_search": "ADVERTISING"}
DOSSIER_CHANNELS = {"web", "referral", "partner", "event", "outbound", "advertising", "social", "other"}


def channel(v):
    if v is None:
        return None
    return CHANNEL.get(v) or (v.upper() if v in DOSSIER_CHANNELS else "OTHER")


def country(v):
    return v if isinstance(v, str) and len(v) == 2 and v.isalpha() and v.isupper() else "FR"


def ts(v):
    return datetime.fromisoformat(v.replace("Z", "+00:00")) if v else None


def load(path):
    with open(path) as f:
        doc = json.load(f)
    if doc.get("errors"):
        sys.exit(f"{path}: errors: {json.dumps(doc['errors'])[:500]}")
    return doc["data"]


def contact(c, pii=True):
    if not pii:
        return {"id": c["id"]}
    return {k: c.get(k) for k in ("id", "firstName", "lastName", "email", "phone", "birthday")}


def dossier_customer(n, pii=True):
    out = {
        "id": n["id"], "name": n["name"], "registrationNumber": n["registrationNumber"],
        "billing": (n.get("billingAddress") or {}).get("line1"), "country": n["country"],
        "channel": n["acquisitionChannel"], "createdAt": ts(n["createdAt"]),
        "contacts": [contact(e["node"], pii) for e in n["contacts"]["edges"]],
    }
    if "sales" in n:
        out["sales"] = [{"id": s["id"], "sku": s["sku"], "amount": Decimal(s["amount"]),
                         "currency": s["currency"], "soldAt": ts(s["soldAt"])}
                        for s in (e["node"] for e in n["sales"]["edges"])]
    return out


def pg_customer(n, pii=True):
    out = {
        "id": n["id"], "name": n["name"], "registrationNumber": n["registrationNumber"],
        "billing": n["billingAddress"][:200] if n["billingAddress"] is not None else None,
        "country": country(n["country"]), "channel": channel(n["acquisitionChannel"]),
        "createdAt": ts(n["createdAt"]),
        "contacts": [contact(c, pii) for c in n["contacts"]["nodes"]],
    }
    if "sales" in n:
        out["sales"] = [{"id": s["id"], "sku": s["sku"], "amount": Decimal(s["amount"]),
                         "currency": s["currency"], "soldAt": ts(s["soldAt"])} for s in n["sales"]["nodes"]]
    return out


def diff(name, a, b):
    if a == b:
        return True
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            print(f"  {name}: dossier has {len(a)} rows, postgraphile {len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return diff(f"{name}[{i}]", x, y)
    elif isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return diff(f"{name}.{k}", a.get(k), b.get(k))
    print(f"  {name}: dossier={a!r} postgraphile={b!r}")
    return False


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    dq1, pq1, dq2, pq2 = (load(p) for p in sys.argv[1:5])
    d1 = [dossier_customer(e["node"]) for e in dq1["customers"]["edges"]]
    p1 = [pg_customer(n) for n in pq1["allCustomers"]["nodes"]]
    ok = diff("Q1", d1, p1)
    d2 = dossier_customer(dq2["customer"]) if dq2["customer"] else None
    p2 = pg_customer(pq2["customerByTenantIdAndId"]) if pq2["customerByTenantIdAndId"] else None
    ok = diff("Q2", d2, p2) and ok
    if p2 is None:
        print("  Q2: no customer returned"); ok = False
    if len(sys.argv) > 5:
        dn = [dossier_customer(e["node"], pii=False) for e in load(sys.argv[5])["customers"]["edges"]]
        pn = [pg_customer(n, pii=False) for n in pq1["allCustomers"]["nodes"]]
        ok = diff("Q1 without personal fields", dn, pn) and ok
    contacts = sum(len(c["contacts"]) for c in d1)
    sales = sum(len(c.get("sales", [])) for c in d1)
    if not ok:
        sys.exit("same-data check FAILED")
    print(f"same-data check: Q1 {len(d1)} customers / {contacts} contacts / {sales} sales and Q2 "
          f"({len(d2['contacts'])} contacts) identical on Dossier and PostGraphile")


if __name__ == "__main__":
    main()
