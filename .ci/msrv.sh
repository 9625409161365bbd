#!/usr/bin/env bash
# The stated MSRV is true: fails when any locked dependency declares a higher `rust-version`
# than the package's own, listing each offender.
#
# What counts: every package in the locked resolve reachable from auditkit with all features
# on (`cargo metadata --all-features`, no platform filter, so Windows/wasm-only dependencies
# count too), following normal and build dependencies everywhere, plus auditkit's own
# dev-dependencies and what they pull in. Dev-dependencies count because `cargo test`
# (README's "what CI runs") builds with them: a contributor on the stated toolchain must be
# able to run the tests, not only build the library. A dependency that declares no
# `rust-version` cannot be checked and is only counted in the summary.
#
# Reads the lockfile only (`--locked`): nothing is re-resolved. Tries `--offline` first and
# falls back to the network only to download manifests not in the local cache yet.
set -euo pipefail
cd "$(dirname "$0")/.."

meta="$(mktemp)"
trap 'rm -f "$meta"' EXIT
if ! cargo metadata --format-version 1 --all-features --locked --offline >"$meta" 2>/dev/null; then
    cargo metadata --format-version 1 --all-features --locked >"$meta"
fi

python3 - "$meta" <<'EOF'
import json
import sys

meta = json.load(open(sys.argv[1]))
packages = {p["id"]: p for p in meta["packages"]}
nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
root_id = meta["resolve"]["root"]
root = packages[root_id]


def version(text):
    parts = [int(x) for x in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


if not root.get("rust_version"):
    sys.exit("msrv.sh: Cargo.toml of {} states no rust-version".format(root["name"]))
stated = root["rust_version"]


def kinds(dep):
    return {k["kind"] for k in dep["dep_kinds"]}


def reachable(root_kinds):
    """Packages reached from the root through `root_kinds` edges, then normal (kind null) and
    build edges only: Cargo builds no dependency's dev-dependencies."""
    seen = set()
    stack = [d["pkg"] for d in nodes[root_id]["deps"] if kinds(d) & root_kinds]
    while stack:
        pkg = stack.pop()
        if pkg in seen:
            continue
        seen.add(pkg)
        stack.extend(d["pkg"] for d in nodes[pkg]["deps"] if kinds(d) & {None, "build"})
    return seen


seen = reachable({None, "build", "dev"})
for_users = reachable({None, "build"})

offenders, undeclared = [], 0
for pkg in seen:
    p = packages[pkg]
    rv = p.get("rust_version")
    if not rv:
        undeclared += 1
    elif version(rv) > version(stated):
        only = "" if pkg in for_users else " (only under dev-dependencies)"
        offenders.append((version(rv), rv, p["name"], p["version"], only))

if offenders:
    print(
        "msrv.sh: Cargo.toml states rust-version = \"{}\", but {} locked "
        "dependenc{} declare{} a higher one:".format(
            stated,
            len(offenders),
            "y" if len(offenders) == 1 else "ies",
            "s" if len(offenders) == 1 else "",
        ),
        file=sys.stderr,
    )
    for _, rv, name, ver, only in sorted(offenders, reverse=True):
        print("  {} {} needs Rust {}{}".format(name, ver, rv, only), file=sys.stderr)
    print(
        "Raise rust-version in Cargo.toml to {} (and README's \"Minimum supported Rust "
        "version\"), or lock older versions of these dependencies.".format(max(offenders)[1]),
        file=sys.stderr,
    )
    sys.exit(1)
print(
    "msrv.sh: rust-version {} covers all {} locked dependencies "
    "({} declare none)".format(stated, len(seen), undeclared)
)
EOF
