//! The `dsf privacy` subcommands end to end on files.

use std::path::{Path, PathBuf};

use clap::Parser;
use dsf_privacy::cli::{PrivacyArgs, run};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: PrivacyArgs,
}

fn dsf_privacy(args: &[&str]) -> anyhow::Result<()> {
    let cli = Cli::try_parse_from(std::iter::once("dsf-privacy").chain(args.iter().copied()))?;
    run(cli.args)
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("dsf-privacy-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn data(path: &str) -> String {
    crate::data(path).to_string_lossy().into_owned()
}

fn json(path: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("output file")).expect("JSON output")
}

#[test]
fn encode_writes_clkhash_identical_clks() {
    let dir = TempDir::new("encode");
    let out = dir.path("clks.json");
    let secret_file = dir.path("secret");
    std::fs::write(&secret_file, "dsf-privacy test secret\n").expect("write secret");
    let schema = data("clkhash/schemas/double_hash_bigrams.json");
    let records = data("clkhash/records.csv");
    dsf_privacy(&[
        "encode",
        "--schema",
        &schema,
        "--secret-file",
        &secret_file,
        "--threads",
        "3",
        "-o",
        &out,
        &records,
    ])
    .expect("encode");
    let expected = json(&data("clkhash/expected/double_hash_bigrams.json"));
    assert_eq!(json(&out)["clks"], expected["clks"]);
}

#[test]
fn encode_spans_batches_and_threads_in_order() {
    let dir = TempDir::new("encode-batches");
    let records = std::fs::read_to_string(data("clkhash/records.csv")).expect("records");
    let (header, rows) = records.split_once('\n').expect("header");
    let big = dir.path("big.csv");
    std::fs::write(&big, format!("{header}\n{}", rows.repeat(40))).expect("write");
    let out = dir.path("clks.json");
    let schema = data("clkhash/schemas/double_hash_bigrams.json");
    dsf_privacy(&[
        "encode",
        "--schema",
        &schema,
        "--secret",
        "dsf-privacy test secret",
        "--threads",
        "2",
        "-o",
        &out,
        &big,
    ])
    .expect("encode");
    let expected = json(&data("clkhash/expected/double_hash_bigrams.json"));
    let expected = expected["clks"].as_array().expect("clks");
    let ours = json(&out);
    let ours = ours["clks"].as_array().expect("clks");
    assert_eq!(ours.len(), 240 * 40);
    for (i, clk) in ours.iter().enumerate() {
        assert_eq!(clk, &expected[i % 240], "row {i}");
    }
}

#[test]
fn encode_rejects_a_wrong_header_and_a_missing_secret() {
    let dir = TempDir::new("encode-bad");
    let csv = dir.path("in.csv");
    std::fs::write(&csv, "id,given,surname,dob,sex,postcode,age,city\n").expect("write");
    let schema = data("clkhash/schemas/double_hash_bigrams.json");
    let err = dsf_privacy(&["encode", "--schema", &schema, "--secret", "s", &csv])
        .expect_err("header mismatch");
    assert!(format!("{err:#}").contains("given_name"), "{err:#}");
    let records = data("clkhash/records.csv");
    assert!(dsf_privacy(&["encode", "--schema", &schema, &records]).is_err());
}

#[test]
fn encode_writes_record_filters() {
    use dsf_privacy::BloomFilter;
    use dsf_privacy::record_filter::{RecordFilterConfig, RecordFilterEncoder, RecordFilterKeys};

    let dir = TempDir::new("encode-record-filter");
    // The HiGHmed columns in another order, plus a column that is not a field.
    let csv = dir.path("people.csv");
    std::fs::write(
        &csv,
        "id,lastName,firstName,birthday,sex,street,zipCode,city,country,insuranceNumber\n\
         1,Schmidt,Johanna,1960-02-01,F,Hauptstr. 1,69117,Heidelberg,DE,A123456789\n\
         2,Weber,Peter,1971-12-24,M,Ringstr. 7,10115,Berlin,DE,B987654321\n",
    )
    .expect("write");
    let out = dir.path("rbf.json");
    let encode = |extra: &[&str]| {
        let args = ["encode", "--secret", "site secret", "-o", &out, &csv];
        dsf_privacy(&[&args[..], extra].concat())
    };
    encode(&["--record-filter"]).expect("encode");
    let encoder = RecordFilterEncoder::new(
        RecordFilterConfig::highmed(),
        &RecordFilterKeys::from_secret(b"site secret"),
    )
    .expect("encoder");
    let people = [
        [
            "Johanna",
            "Schmidt",
            "1960-02-01",
            "F",
            "Hauptstr. 1",
            "69117",
            "Heidelberg",
            "DE",
            "A123456789",
        ],
        [
            "Peter",
            "Weber",
            "1971-12-24",
            "M",
            "Ringstr. 7",
            "10115",
            "Berlin",
            "DE",
            "B987654321",
        ],
    ];
    let expected: Vec<String> = people
        .iter()
        .map(|p| encoder.encode(p).expect("encode").to_base64())
        .collect();
    assert_eq!(json(&out)["clks"], serde_json::json!(expected));

    // Own fields: two of the columns, 1000 bits.
    let config = dir.path("fields.json");
    let with_fields = |fields: &str| {
        let json = format!(r#"{{"length": 1000, "fields": [{fields}]}}"#);
        std::fs::write(&config, json).expect("write");
        encode(&["--record-filter", "--record-filter-config", &config])
    };
    with_fields(
        r#"{"name": "firstName", "length": 500, "weight": 0.5},
           {"name": "lastName", "length": 500, "weight": 0.5, "n": 3, "bitsPerGram": 10}"#,
    )
    .expect("encode");
    let clks = json(&out)["clks"].clone();
    let first = BloomFilter::from_base64(clks[0].as_str().expect("base64")).expect("filter");
    assert_eq!(first.len(), 1000);

    let missing = with_fields(r#"{"name": "middleName", "length": 500, "weight": 1}"#);
    assert!(format!("{:#}", missing.expect_err("no such column")).contains("middleName"));
    let weights = with_fields(r#"{"name": "firstName", "length": 500, "weight": 0.5}"#);
    assert!(format!("{:#}", weights.expect_err("weights")).contains("sum"));
    assert!(
        encode(&["--record-filter-config", &config]).is_err(),
        "needs --record-filter"
    );
    assert!(encode(&[]).is_err(), "needs --schema or --record-filter");
    let schema = data("clkhash/schemas/double_hash_bigrams.json");
    assert!(encode(&["--record-filter", "--schema", &schema]).is_err());
}

#[test]
fn link_writes_groups_and_reads_truth() {
    let dir = TempDir::new("link");
    let out = dir.path("links.json");
    let a = data("clkhash/expected/double_hash_bigrams.json");
    let truth = dir.path("truth.json");
    let pairs: Vec<String> = (0..240).map(|i| format!("[[0,{i}],[1,{i}]]")).collect();
    std::fs::write(&truth, format!(r#"{{"groups": [{}]}}"#, pairs.join(","))).expect("write");
    dsf_privacy(&[
        "link",
        &a,
        &a,
        "--threshold",
        "0.95",
        "--truth",
        &truth,
        "-o",
        &out,
    ])
    .expect("link");
    let groups = json(&out)["groups"].clone();
    let groups = groups.as_array().expect("groups");
    assert_eq!(groups.len(), 240);
    for (i, g) in groups.iter().enumerate() {
        assert_eq!(g, &serde_json::json!([[0, i], [1, i]]));
    }
    // Identical records share every band, so blocking finds the same groups.
    let blocked = dir.path("blocked.json");
    let link_blocked = |extra: &[&str]| {
        let args = ["link", &a, &a, "--threshold", "0.95", "-o", &blocked];
        dsf_privacy(&[&args[..], extra].concat())
    };
    link_blocked(&["--blocking", "--bands", "4", "--band-bits", "20"]).expect("blocked link");
    assert_eq!(json(&blocked)["groups"], json(&out)["groups"]);
    assert!(
        link_blocked(&["--bands", "4"]).is_err(),
        "--bands needs --blocking"
    );
    assert!(link_blocked(&["--blocking", "--band-bits", "65"]).is_err());
    assert!(
        dsf_privacy(&["link", &a]).is_err(),
        "one input is not enough"
    );
    let not_clks = data("clkhash/schemas/blake_hash.json");
    assert!(dsf_privacy(&["link", &a, &not_clks, "-o", &out]).is_err());
}

#[test]
fn seal_and_open_files() {
    let dir = TempDir::new("seal");
    let plain = dir.path("plain.txt");
    std::fs::write(&plain, "counts: 42").expect("write");
    let sealed = dir.path("sealed.bin");
    let opened = dir.path("opened.txt");
    let cert = data("keys/site-a.cert.pem");
    let recipient = format!("dms.example={cert}");
    dsf_privacy(&[
        "seal",
        "--sender",
        "dic-1.example",
        "--recipient",
        &recipient,
        "-o",
        &sealed,
        &plain,
    ])
    .expect("seal");
    let key = data("keys/site-a.key.pem");
    dsf_privacy(&[
        "open",
        "--recipient",
        "dms.example",
        "--key",
        &key,
        "--expect-sender",
        "dic-1.example",
        "-o",
        &opened,
        &sealed,
    ])
    .expect("open");
    assert_eq!(
        std::fs::read_to_string(&opened).expect("read"),
        "counts: 42"
    );
    assert!(
        dsf_privacy(&[
            "open",
            "--recipient",
            "dms.example",
            "--key",
            &key,
            "--expect-sender",
            "dic-2.example",
            "-o",
            &opened,
            &sealed
        ])
        .is_err()
    );
    let wrong = data("keys/site-b.key.pem");
    assert!(
        dsf_privacy(&[
            "open",
            "--recipient",
            "dms.example",
            "--key",
            &wrong,
            "-o",
            &opened,
            &sealed
        ])
        .is_err()
    );
    assert!(dsf_privacy(&["seal", "--sender", "s", "--recipient", "no-path", &plain]).is_err());
}

#[test]
fn keygen_writes_a_usable_private_key_once() {
    let dir = TempDir::new("keygen");
    let private = dir.path("key.pem");
    let public = dir.path("pub.pem");
    dsf_privacy(&[
        "keygen",
        "--private-key",
        &private,
        "--public-key",
        &public,
        "--bits",
        "2048",
    ])
    .expect("keygen");
    let key = dsf_privacy::envelope::private_key_from_pem(
        &std::fs::read_to_string(&private).expect("read"),
    )
    .expect("private key");
    let public_key = dsf_privacy::envelope::public_key_from_pem(
        &std::fs::read_to_string(&public).expect("read"),
    )
    .expect("public key");
    assert_eq!(key.to_public_key(), public_key);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(Path::new(&private))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(
        dsf_privacy(&[
            "keygen",
            "--private-key",
            &private,
            "--public-key",
            &public,
            "--bits",
            "2048"
        ])
        .is_err(),
        "an existing private key is not overwritten"
    );
    assert!(
        dsf_privacy(&[
            "keygen",
            "--private-key",
            &dir.path("k2"),
            "--public-key",
            &public,
            "--bits",
            "1024"
        ])
        .is_err()
    );
}
