#!/usr/bin/env python3
"""Set the status (and note) of syscall rows in syscalls.toml without reformatting the file.

Usage: scripts/set-status.py implemented NAME [NAME...]
       scripts/set-status.py partial NAME --note "what is missing"
       scripts/set-status.py unimplemented NAME [NAME...]
"""
import argparse
import pathlib
import re
import sys

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("status", choices=["implemented", "partial", "unimplemented"])
parser.add_argument("names", nargs="+")
parser.add_argument("--note", default="")
args = parser.parse_args()
if args.status == "partial" and not args.note:
    sys.exit("set-status.py: a partial syscall needs --note saying what is missing")

path = pathlib.Path(__file__).resolve().parent.parent / "syscalls.toml"
lines = path.read_text().split("\n")
found = set()
i = 0
while i < len(lines):
    match = re.fullmatch(r'name = "([a-z0-9_]+)"', lines[i])
    if match and match.group(1) in args.names and i > 0 and lines[i - 1].startswith("nr = "):
        name = match.group(1)
        j = i
        while not lines[j].startswith("status = "):
            j += 1
        lines[j] = f'status = "{args.status}"'
        if j + 1 < len(lines) and lines[j + 1].startswith("note = "):
            del lines[j + 1]
        if args.note:
            escaped = args.note.replace("\\", "\\\\").replace('"', '\\"')
            lines.insert(j + 1, f'note = "{escaped}"')
        found.add(name)
    i += 1
missing = set(args.names) - found
if missing:
    sys.exit(f"set-status.py: no syscall row named {', '.join(sorted(missing))}")
path.write_text("\n".join(lines))
