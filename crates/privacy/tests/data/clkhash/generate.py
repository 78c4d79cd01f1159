#!/usr/bin/env python3
"""Regenerates the clkhash reference encodings used by dsf-privacy's tests.

Usage: generate.py OUT_DIR        (OUT_DIR = this directory to refresh the committed files)

Writes OUT_DIR/records.csv (synthetic records made up here, no real persons), copies the schemas
from this directory's schemas/ folder and writes OUT_DIR/expected/<schema>.json in clkhash's
{"clks": [...]} format, encoded by the installed clkhash package with the secret in SECRET.
"""
import csv
import json
import os
import random
import shutil
import sys

from clkhash import clk
from clkhash.schema import from_json_dict
from clkhash.serialization import serialize_bitarray

HERE = os.path.dirname(os.path.abspath(__file__))
SECRET = "dsf-privacy test secret"
HEADER = ["id", "given_name", "surname", "dob", "sex", "postcode", "age", "city"]

GIVEN = ["Anna", "Ben", "Clara", "Dieter", "Elif", "Frieda", "Günther", "Hanna", "Ilse",
         "Jürgen", "Karl-Heinz", "Lea", "Mehmet", "Noé", "Olga", "Paul", "Zoë", "李", "Ærin", "X"]
SUR = ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
       "Schulz", "Hoffmann", "O'Brien", "van der Berg", "Łukasz", "Straße", "Nguyen", "Öz"]
CITY = ["Heidelberg", "Göttingen", "Hannover", "Köln", "München", "Frankfurt am Main", "Jena"]


def typo(rng, word):
    if not word or rng.random() < 0.6:
        return word
    i = rng.randrange(len(word))
    op = rng.randrange(3)
    if op == 0:
        return word[:i] + word[i + 1:]
    if op == 1:
        return word[:i] + rng.choice("aeiouäöüsnt") + word[i:]
    return word[:i] + rng.choice("aeiouäöüsnt") + word[i + 1:]


def records(n=240, seed=20261130):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        day, month, year = rng.randint(1, 28), rng.randint(1, 12), rng.randint(1920, 2024)
        dob = "" if rng.random() < 0.05 else rng.choice(
            [f"{day:02d}/{month:02d}/{year}", f"{day}/{month}/{year}"])
        postcode = "" if rng.random() < 0.05 else f"{rng.randint(1000, 99999):05d}"
        age = "" if rng.random() < 0.05 else rng.choice(
            [str(rng.randint(0, 105)), f" {rng.randint(0, 105)}", f"+{rng.randint(0, 105)}"])
        rows.append([
            str(i),
            typo(rng, rng.choice(GIVEN)) if rng.random() > 0.03 else "",
            typo(rng, rng.choice(SUR)),
            dob,
            rng.choice(["m", "f", "d", "u", ""]),
            postcode,
            age,
            rng.choice(CITY) if rng.random() > 0.05 else "",
        ])
    return rows


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else HERE
    os.makedirs(os.path.join(out, "expected"), exist_ok=True)
    path = os.path.join(out, "records.csv")
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(HEADER)
        w.writerows(records())
    schema_dir = os.path.join(HERE, "schemas")
    for name in sorted(os.listdir(schema_dir)):
        if not name.endswith(".json"):
            continue
        if os.path.abspath(out) != HERE:
            os.makedirs(os.path.join(out, "schemas"), exist_ok=True)
            shutil.copy(os.path.join(schema_dir, name), os.path.join(out, "schemas", name))
        with open(os.path.join(schema_dir, name), encoding="utf-8") as f:
            schema = from_json_dict(json.load(f))
        with open(path, encoding="utf-8", newline="") as f:
            clks = clk.generate_clk_from_csv(f, SECRET, schema, validate=True, header=True,
                                             progress_bar=False, max_workers=1)
        with open(os.path.join(out, "expected", name), "w", encoding="utf-8") as f:
            json.dump({"clks": [serialize_bitarray(c) for c in clks]}, f, indent=0)
            f.write("\n")


if __name__ == "__main__":
    main()
