#!/bin/sh
# Fetches the FHIR R4 example package (hl7.fhir.r4.examples 4.0.1, CC0) into the git-ignored
# cache at <repo>/.cache/r4-examples/package and prints that directory. Idempotent (does nothing
# when already present) and safe to run concurrently. The package holds the R4
# StructureDefinitions (the source of src/r4/elements.tsv) and the official examples that the
# round-trip tests read.
set -eu
root="$(cd "$(dirname "$0")/../../.." && pwd)"
cache="$root/.cache"
dir="$cache/r4-examples"
if [ -f "$dir/package/package.json" ]; then
    echo "$dir/package"
    exit 0
fi
mkdir -p "$cache"
tmp="$(mktemp -d "$cache/r4-examples.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
tgz="$cache/hl7.fhir.r4.examples-4.0.1.tgz"
if [ ! -f "$tgz" ]; then
    (cd "$tmp" && npm pack --silent hl7.fhir.r4.examples@4.0.1 >/dev/null)
    mv "$tmp/hl7.fhir.r4.examples-4.0.1.tgz" "$tgz"
fi
mkdir "$tmp/x"
tar xzf "$tgz" -C "$tmp/x"
test -f "$tmp/x/package/package.json"
# Another run may have finished first; then keep its copy.
if [ ! -f "$dir/package/package.json" ]; then
    rm -rf "$dir"
    mv "$tmp/x" "$dir" 2>/dev/null || test -f "$dir/package/package.json"
fi
echo "$dir/package"
