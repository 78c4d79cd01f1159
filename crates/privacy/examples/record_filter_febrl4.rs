//! Linkage quality of record-level Bloom filters (HiGHmed design) on FEBRL4.
//!
//! Needs the files `crates/privacy/bench/febrl4.py` writes to `.cache/febrl4` (a.csv, b.csv,
//! truth.json). Usage: `cargo run --release -p dsf-privacy --example record_filter_febrl4 --
//! [DIR] [THRESHOLD]`. FEBRL has no sex column, its state stands in for the country, and street
//! number plus first address line for the street.

use std::time::Instant;

use anyhow::Context;
use dsf_privacy::linkage::{self, LinkOptions, RecordRef};
use dsf_privacy::record_filter::{RecordFilterConfig, RecordFilterEncoder, RecordFilterKeys};

fn read(
    path: &str,
    encoder: &RecordFilterEncoder,
) -> anyhow::Result<Vec<dsf_privacy::BloomFilter>> {
    let mut reader = csv::Reader::from_path(path).with_context(|| path.to_owned())?;
    let header: Vec<String> = reader.headers()?.iter().map(str::to_owned).collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .context(name.to_owned())
    };
    let (given, surname, dob, number, address, postcode, suburb, state, ssn) = (
        col("given_name")?,
        col("surname")?,
        col("date_of_birth")?,
        col("street_number")?,
        col("address_1")?,
        col("postcode")?,
        col("suburb")?,
        col("state")?,
        col("soc_sec_id")?,
    );
    reader
        .records()
        .map(|r| {
            let r = r?;
            let street = format!("{} {}", &r[number], &r[address]);
            let record = [
                &r[given],
                &r[surname],
                &r[dob],
                "",
                street.trim(),
                &r[postcode],
                &r[suburb],
                &r[state],
                &r[ssn],
            ];
            Ok(encoder.encode(&record)?)
        })
        .collect()
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).map_or(".cache/febrl4", String::as_str);
    let threshold: f64 = args.get(2).map_or(Ok(0.8), |t| t.parse())?;
    let encoder = RecordFilterEncoder::new(
        RecordFilterConfig::highmed(),
        &RecordFilterKeys::from_secret(b"febrl4 benchmark secret"),
    )?;
    let started = Instant::now();
    let a = read(&format!("{dir}/a.csv"), &encoder)?;
    let b = read(&format!("{dir}/b.csv"), &encoder)?;
    let encoded = started.elapsed().as_secs_f64();
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{dir}/truth.json"))?)?;
    let truth: Vec<Vec<RecordRef>> = truth["groups"]
        .as_array()
        .context("groups")?
        .iter()
        .map(|g| {
            g.as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| {
                    Some(RecordRef {
                        dataset: usize::try_from(m.get(0)?.as_u64()?).ok()?,
                        row: usize::try_from(m.get(1)?.as_u64()?).ok()?,
                    })
                })
                .collect()
        })
        .collect();
    let started = Instant::now();
    let result = linkage::link(
        &[a, b],
        LinkOptions {
            threshold,
            threads: 1,
            blocking: None,
        },
    )?;
    let linked = started.elapsed().as_secs_f64();
    let q = linkage::quality(&result.groups, &linkage::pairs(&truth));
    println!(
        "record filters (HiGHmed design, 3000 bits), threshold {threshold}: precision {:.4} \
         recall {:.4} F1 {:.4}; encoded 10000 in {encoded:.2} s, linked in {linked:.2} s",
        q.precision, q.recall, q.f1
    );
    Ok(())
}
