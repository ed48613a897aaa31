"""Fail when an executed notebook holds error outputs.

    python notebooks/check_outputs.py notebooks/out/compare_outlets.ipynb

A failing rich display (e.g. a table's HTML) is stored as an error output without failing its
cell, so `jupyter nbconvert --execute` succeeds; this lists each such output on stderr and
exits 1.
"""

import json
import sys


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1], encoding="utf-8") as f:
        notebook = json.load(f)
    errors = [(i, o.get("ename", "?"), o.get("evalue", "")) for i, cell in enumerate(notebook["cells"])
              for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    for i, name, value in errors:
        print(f"notebooks: cell {i}: {name}: {value}", file=sys.stderr)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
