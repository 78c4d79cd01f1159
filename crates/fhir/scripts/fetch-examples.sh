#!/bin/sh
# Fetches the FHIR R4 example package (hl7.fhir.r4.examples 4.0.1, CC0) into the git-ignored
# cache at <repo>/.cache/r4-examples/package. Idempotent: does nothing when already present.
# The package holds the R4 StructureDefinitions (the source of src/r4/elements.tsv) and the
# official examples that the round-trip tests read.
set -eu
root="$(cd "$(dirname "$0")/../../.." && pwd)"
cache="$root/.cache"
dir="$cache/r4-examples"
if [ -f "$dir/package/package.json" ]; then
    echo "$dir/package"
    exit 0
fi
mkdir -p "$cache"
tgz="$cache/hl7.fhir.r4.examples-4.0.1.tgz"
if [ ! -f "$tgz" ]; then
    (cd "$cache" && npm pack --silent hl7.fhir.r4.examples@4.0.1 >/dev/null)
fi
rm -rf "$dir.tmp"
mkdir -p "$dir.tmp"
tar xzf "$tgz" -C "$dir.tmp"
rm -rf "$dir"
mv "$dir.tmp" "$dir"
echo "$dir/package"
