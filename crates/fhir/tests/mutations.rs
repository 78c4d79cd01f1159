//! A stable-toolchain stand-in for the fuzz target (`fuzz/fuzz_targets/fhir_codec.rs`): mutated copies of real resources, in
//! JSON and XML, never panic the reader, and whatever is accepted round-trips through both formats.

mod common;

use dsf_fhir::{Format, parse, serialize};

/// xorshift64*: deterministic, dependency-free pseudo-random numbers.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TOKENS: &[&[u8]] = &[
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"null",
    b"0",
    b"-1.50",
    b"1e999",
    b"true",
    b"\"\"",
    b"<",
    b">",
    b"/>",
    b"</",
    b"&amp;",
    b"&#0;",
    b"&x;",
    b"<!DOCTYPE x>",
    b"value=\"\"",
    b"\xff",
    b"_",
    b"extension",
    b"valueString",
    b"resourceType",
    b"<div xmlns=\"http://www.w3.org/1999/xhtml\">",
];

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(3) {
        let at = rng.below(out.len() + 1);
        match rng.below(4) {
            0 => {
                let end = (at + rng.below(16)).min(out.len());
                out.drain(at..end);
            }
            1 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                out.splice(at..at, t.iter().copied());
            }
            2 if at < out.len() => out[at] = rng.next() as u8,
            _ => {
                // Duplicate a slice (repeats elements and members).
                let end = (at + rng.below(64)).min(out.len());
                let copy = out[at..end].to_vec();
                out.splice(at..at, copy);
            }
        }
    }
    out
}

/// The fuzz target's property for one input.
fn check(data: &[u8]) {
    for input in [Format::Json, Format::Xml] {
        let Ok(resource) = parse(data, input) else {
            continue;
        };
        for output in [Format::Json, Format::Xml] {
            let bytes = serialize(&resource, output, false);
            let again = parse(&bytes, output).unwrap_or_else(|e| {
                panic!(
                    "own {output:?} output rejected: {e}\n{}",
                    String::from_utf8_lossy(&bytes)
                )
            });
            if output == Format::Json {
                assert_eq!(again.as_json(), resource.as_json());
            }
            let third = parse(&serialize(&again, output, true), output).expect("second pass");
            assert_eq!(
                third.as_json(),
                again.as_json(),
                "{output:?} round trip unstable"
            );
        }
    }
}

#[test]
fn mutated_examples_never_panic_and_round_trip() {
    let Some(dir) = common::examples_dir() else {
        return;
    };
    let names = [
        "Patient-example.json",
        "Observation-example-genetics-1.json",
        "Questionnaire-f201.json",
        "Bundle-bundle-example.json",
        "Task-example1.json",
        "CodeSystem-v2-0136.json",
        "Parameters-example.json",
        "MedicationRequest-medrx0301.json",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut accepted = 0;
    for name in names {
        let Ok(json) = std::fs::read(dir.join(name)) else {
            continue;
        };
        let resource = parse(&json, Format::Json).expect("example is valid");
        let xml = serialize(&resource, Format::Xml, true);
        check(&json);
        check(&xml);
        for _ in 0..300 {
            for seed in [&json, &xml] {
                let m = mutate(&mut rng, seed);
                check(&m);
                accepted +=
                    usize::from(parse(&m, Format::Json).is_ok() || parse(&m, Format::Xml).is_ok());
            }
        }
    }
    println!("mutated inputs accepted: {accepted}");
}
