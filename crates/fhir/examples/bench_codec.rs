//! Prints the codec's throughput over the official R4 examples (one thread).
//!
//! Run `crates/fhir/scripts/fetch-examples.sh`, then
//! `cargo run --release -p dsf-fhir --example bench_codec`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use dsf_fhir::{Format, parse, serialize};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.cache/r4-examples/package")
        });
    let t = Instant::now();
    let _ = dsf_fhir::is_resource_type("Patient");
    println!(
        "metadata table load: {:.2} ms",
        t.elapsed().as_secs_f64() * 1e3
    );

    let mut bodies = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|x| x == "json")
            && path.file_name().is_some_and(|n| n != "package.json")
        {
            let bytes = std::fs::read(&path)?;
            if parse(&bytes, Format::Json).is_ok() {
                bodies.push(bytes);
            }
        }
    }
    let json_bytes: usize = bodies.iter().map(Vec::len).sum();
    println!(
        "{} valid example resources, {:.1} MB of JSON",
        bodies.len(),
        mb(json_bytes)
    );

    let rounds = 5;
    let best = |f: &mut dyn FnMut() -> usize| {
        let mut best = Duration::MAX;
        let mut bytes = 0;
        for _ in 0..rounds {
            let t = Instant::now();
            bytes = f();
            best = best.min(t.elapsed());
        }
        (best, bytes)
    };

    let raw = best(&mut || {
        bodies
            .iter()
            .map(|b| {
                serde_json::from_slice::<serde_json::Value>(b)
                    .map(|_| b.len())
                    .unwrap_or(0)
            })
            .sum()
    });
    report("serde_json::Value parse only (baseline)", raw);
    let resources: Vec<_> = bodies
        .iter()
        .filter_map(|b| parse(b, Format::Json).ok())
        .collect();
    report(
        "JSON parse + strict check",
        best(&mut || {
            bodies
                .iter()
                .map(|b| parse(b, Format::Json).map(|_| b.len()).unwrap_or(0))
                .sum()
        }),
    );
    report(
        "JSON serialize (compact)",
        best(&mut || {
            resources
                .iter()
                .map(|r| serialize(r, Format::Json, false).len())
                .sum()
        }),
    );
    report(
        "XML serialize (output bytes)",
        best(&mut || {
            resources
                .iter()
                .map(|r| serialize(r, Format::Xml, false).len())
                .sum()
        }),
    );
    let xml: Vec<Vec<u8>> = resources
        .iter()
        .map(|r| serialize(r, Format::Xml, false))
        .collect();
    report(
        "XML parse + strict check (input bytes)",
        best(&mut || {
            xml.iter()
                .map(|b| parse(b, Format::Xml).map(|_| b.len()).unwrap_or(0))
                .sum()
        }),
    );
    Ok(())
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1e6
}

fn report(what: &str, (time, bytes): (Duration, usize)) {
    println!(
        "{what:40} {:8.1} MB in {:6.3} s = {:6.1} MB/s",
        mb(bytes),
        time.as_secs_f64(),
        mb(bytes) / time.as_secs_f64()
    );
}
