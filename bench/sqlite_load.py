#!/usr/bin/env python3
"""Fill one tenant of a running Dossier through its API (for bench/sqlite.sh): CUSTOMERS
customers, three contacts and five sales each, twenty creations per request (aliases).
Prints the first customer's id (Q2's variable)."""
import json
import sys
import urllib.request

url, token, customers = sys.argv[1], sys.argv[2], int(sys.argv[3])


def post(query, variables):
    body = json.dumps({"query": query, "variables": variables}).encode()
    request = urllib.request.Request(url, body, {
        "content-type": "application/json", "authorization": "Bearer " + token})
    with urllib.request.urlopen(request) as response:
        answer = json.load(response)
    if answer.get("errors"):
        sys.exit("loading failed: %s" % json.dumps(answer["errors"])[:500])
    return answer["data"]


def create(kind, inputs):
    """Creates rows of one kind, twenty per request; returns their ids in order."""
    ids = []
    for start in range(0, len(inputs), 20):
        chunk = inputs[start:start + 20]
        params = ", ".join("$i%d: Create%sInput!" % (n, kind) for n in range(len(chunk)))
        fields = " ".join("r%d: create%s(input: $i%d) { id }" % (n, kind, n) for n in range(len(chunk)))
        data = post("mutation(%s) { %s }" % (params, fields),
                    {"i%d" % n: value for n, value in enumerate(chunk)})
        ids += [data["r%d" % n]["id"] for n in range(len(chunk))]
    return ids


customer_ids = create("Customer", [
    {"name": "Company %05d" % n, "country": "FR", "registrationNumber": None,
     "billingAddress": {"line1": "%d rue de la Paix" % n, "city": "Paris", "country": "FR"},
     "acquisitionChannel": "WEB"} for n in range(customers)])
create("Contact", [
    {"customerId": c, "firstName": "First%d" % k, "lastName": "Last%05d" % n,
     "email": "c%05d.%d@example.com" % (n, k), "phone": "+33 6 12 34 %02d %02d" % (n % 100, k),
     "birthday": "1980-01-%02d" % (k + 1)}
    for n, c in enumerate(customer_ids) for k in range(3)])
create("Sale", [
    {"customerId": c, "sku": "SKU-%d" % k, "amount": "%d.%02d" % (10 + n % 90, k),
     "currency": "EUR", "soldAt": "2026-%02d-15T10:00:00Z" % (k + 1)}
    for n, c in enumerate(customer_ids) for k in range(5)])
print(customer_ids[0])
