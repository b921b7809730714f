"""Load the catalogue into the inventory service, through the nginx proxy.

python seed/inventory.py PROXY_URL      (from the recipe directory)
"""

from __future__ import annotations

import csv
import json
import sys
import urllib.request
from pathlib import Path


def main() -> int:
    base = sys.argv[1].rstrip("/")
    rows = list(csv.DictReader((Path(__file__).parent / "catalog.csv").open()))
    for row in rows:
        body = {
            "name": row["name"],
            "price_cents": int(row["price_cents"]),
            "on_hand": int(row["on_hand"]),
        }
        request = urllib.request.Request(
            f"{base}/skus/{row['sku']}",
            data=json.dumps(body).encode(),
            method="PUT",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            print(f"inventory: {row['sku']} -> HTTP {response.status}")
    print(f"inventory: {len(rows)} SKUs loaded through {base}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
