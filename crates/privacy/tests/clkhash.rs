//! Bit-identity with clkhash: the encodings of `data/clkhash/records.csv` under every schema in
//! `data/clkhash/schemas/` must equal the ones clkhash wrote to `data/clkhash/expected/`
//! (regenerate them with `data/clkhash/generate.py`). `clkhash_live` re-runs the generator against
//! the installed PyPI package and compares again.

use std::path::{Path, PathBuf};
use std::process::Command;

use dsf_privacy::{ClkEncoder, LinkageSchema};

const SECRET: &str = "dsf-privacy test secret";

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/clkhash")
}

/// Encodes `records.csv` in `dir` with every schema there and compares with `expected/`.
/// Returns the number of schemas compared.
fn compare_all(dir: &Path) -> usize {
    let mut schemas: Vec<PathBuf> = std::fs::read_dir(dir.join("schemas"))
        .expect("schemas directory")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    schemas.sort();
    assert!(!schemas.is_empty(), "no schemas in {}", dir.display());
    for schema_path in &schemas {
        let name = schema_path.file_name().expect("file name");
        let schema =
            LinkageSchema::from_json(&std::fs::read_to_string(schema_path).expect("schema file"))
                .unwrap_or_else(|e| panic!("{}: {e}", name.display()));
        let expected: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("expected").join(name)).expect("expected file"),
        )
        .expect("expected JSON");
        let expected = expected["clks"].as_array().expect("clks array");
        let mut reader = csv::Reader::from_path(dir.join("records.csv")).expect("records.csv");
        let mut encoder = ClkEncoder::new(&schema, SECRET.as_bytes()).expect("encoder");
        let header: Vec<String> = reader
            .headers()
            .expect("header")
            .iter()
            .map(str::to_owned)
            .collect();
        encoder
            .check_header(&header)
            .expect("header matches schema");
        let mut rows = 0;
        for (row, record) in reader.records().enumerate() {
            let record = record.expect("csv row");
            let fields: Vec<&str> = record.iter().collect();
            let ours = encoder
                .encode(&fields)
                .unwrap_or_else(|e| panic!("{} row {row}: {e}", name.display()))
                .to_base64();
            assert_eq!(
                Some(ours.as_str()),
                expected[row].as_str(),
                "{} row {row} ({fields:?}) differs from clkhash",
                name.display()
            );
            rows += 1;
        }
        assert_eq!(rows, expected.len(), "{}: row count", name.display());
    }
    schemas.len()
}

#[test]
fn committed_clkhash_encodings_are_reproduced_bit_for_bit() {
    assert_eq!(compare_all(&data_dir()), 5);
}

/// Runs `generate.py` with a Python that has clkhash (`DSF_CLKHASH_PYTHON`, else the
/// workspace's `.cache/pyenv`), then compares. Without such a Python the test is skipped, except
/// when `CI=true`, where it fails.
#[test]
fn clkhash_live() {
    let python = std::env::var_os("DSF_CLKHASH_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/pyenv/bin/python")
        });
    let has_clkhash = Command::new(&python)
        .args(["-c", "import clkhash"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_clkhash {
        let msg = format!(
            "clkhash is not importable with {}; install it (pip install clkhash) or set \
             DSF_CLKHASH_PYTHON",
            python.display()
        );
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
        eprintln!("skipping clkhash_live: {msg}");
        return;
    }
    let out = std::env::temp_dir().join(format!("dsf-privacy-clkhash-{}", std::process::id()));
    let status = Command::new(&python)
        .arg(data_dir().join("generate.py"))
        .arg(&out)
        .status()
        .expect("run generate.py");
    assert!(status.success(), "generate.py failed");
    let compared = compare_all(&out);
    let _ = std::fs::remove_dir_all(&out);
    assert_eq!(compared, 5);
}

/// The per-column caches (token hashes, whole values, and switching the value cache off for
/// columns whose values rarely repeat) never change an encoding: 3000 records, the first 1500
/// with unique names and cities and the next 1500 repeating them, encoded by one encoder equal
/// those of a fresh encoder per record.
#[test]
fn caches_do_not_change_encodings() {
    let dir = data_dir();
    let schema = LinkageSchema::from_json(
        &std::fs::read_to_string(dir.join("schemas/double_hash_bigrams.json")).expect("schema"),
    )
    .expect("schema");
    let mut reader = csv::Reader::from_path(dir.join("records.csv")).expect("records.csv");
    let base: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.expect("row").iter().map(str::to_owned).collect())
        .collect();
    let mut shared = ClkEncoder::new(&schema, SECRET.as_bytes()).expect("encoder");
    for i in 0..3000 {
        let mut record = base[i % base.len()].clone();
        // given_name, surname and city
        for column in [1, 2, 7] {
            record[column] = format!("{} {}", record[column], i % 1500);
        }
        let fresh = ClkEncoder::new(&schema, SECRET.as_bytes())
            .expect("encoder")
            .encode(&record)
            .expect("encode");
        assert_eq!(shared.encode(&record).expect("encode"), fresh, "record {i}");
    }
}
