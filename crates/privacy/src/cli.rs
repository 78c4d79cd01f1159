//! The `dsf privacy` command line: encode CSV files into CLKs or record-level Bloom filters, link
//! such files, and generate keys for, seal and open envelopes. Mount [`PrivacyArgs`] as a subcommand and call [`run`].
//!
//! Results go to stdout (or `--output`); progress bars, timings and linkage quality go to stderr.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::blocking::Blocking;
use crate::envelope;
use crate::filter::BloomFilter;
use crate::linkage::{self, LinkOptions, RecordRef};

mod encode;

/// Inputs with at least this many records show a progress bar.
const PROGRESS_MIN: usize = 10_000;

/// `dsf privacy`: privacy-preserving record linkage and encrypted envelopes.
#[derive(Debug, Args)]
pub struct PrivacyArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: PrivacyCommand,
}

/// The `dsf privacy` subcommands.
#[derive(Debug, Subcommand)]
pub enum PrivacyCommand {
    /// Encode the records of a CSV file into Bloom filters (clkhash-compatible CLKs, or
    /// record-level filters with --record-filter).
    Encode(EncodeArgs),
    /// Link two or more CLK files and print the groups of matching records.
    Link(LinkArgs),
    /// Generate an RSA key pair for envelopes.
    Keygen(KeygenArgs),
    /// Encrypt a file for one or more recipients.
    Seal(SealArgs),
    /// Decrypt an envelope addressed to you.
    Open(OpenArgs),
}

/// Arguments of `dsf privacy encode`.
#[derive(Debug, Args)]
pub struct EncodeArgs {
    /// clkhash linkage schema (v3 JSON).
    #[arg(
        long,
        required_unless_present = "record_filter",
        conflicts_with = "record_filter"
    )]
    pub schema: Option<PathBuf>,
    /// Encode record-level Bloom filters in the HiGHmed design (per-field filters sampled by
    /// weight into one filter and permuted with a key from the secret) instead of CLKs. The
    /// CSV header names the fields' columns, in any order; other columns are ignored.
    #[arg(long)]
    pub record_filter: bool,
    /// Fields of the record-level filters as JSON, `{"length": 3000, "fields": [{"name":
    /// "firstName", "length": 500, "weight": 0.1, "n": 2, "bitsPerGram": 15}, ...]}`; default
    /// the HiGHmed fields firstName, lastName, birthday, sex, street, zipCode, city, country
    /// and insuranceNumber.
    #[arg(long, requires = "record_filter")]
    pub record_filter_config: Option<PathBuf>,
    /// Secret shared by the sites (UTF-8). Prefer --secret-file or the environment variable.
    #[arg(
        long,
        env = "DSF_PRIVACY_SECRET",
        hide_env_values = true,
        conflicts_with = "secret_file"
    )]
    pub secret: Option<String>,
    /// File holding the secret (a trailing newline is removed).
    #[arg(long)]
    pub secret_file: Option<PathBuf>,
    /// CSV file with a header row and the schema's columns in order, or the record filter's
    /// columns (`-` for stdin).
    pub input: PathBuf,
    /// Write `{"clks": [...]}` here instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Arguments of `dsf privacy link`.
#[derive(Debug, Args)]
pub struct LinkArgs {
    /// CLK files (`{"clks": [...]}`), data sets numbered from 0 in this order.
    #[arg(required = true, num_args = 2..)]
    pub inputs: Vec<PathBuf>,
    /// Minimum Dice similarity of a match.
    #[arg(long, default_value_t = 0.8)]
    pub threshold: f64,
    /// Known true matches (`{"groups": ...}` like the output); prints precision, recall and F1.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Write `{"groups": [...]}` here instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Compare only records that agree on all sampled bits of at least one band (bit-sampling
    /// blocking): far fewer comparisons, but pairs near the threshold may be missed. Without it
    /// the result is exact.
    #[arg(long)]
    pub blocking: bool,
    /// Bands for --blocking (more find more pairs).
    #[arg(long, default_value_t = Blocking::default().bands, requires = "blocking")]
    pub bands: usize,
    /// Sampled bits per band for --blocking, 1 to 64 (more compare fewer unrelated pairs).
    #[arg(long, default_value_t = Blocking::default().bits, requires = "blocking",
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub band_bits: u32,
}

/// Arguments of `dsf privacy keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the private key (PKCS#8 PEM, mode 0600).
    #[arg(long)]
    pub private_key: PathBuf,
    /// Where to write the public key (SubjectPublicKeyInfo PEM).
    #[arg(long)]
    pub public_key: PathBuf,
    /// RSA modulus size.
    #[arg(long, default_value_t = 4096)]
    pub bits: usize,
}

/// Arguments of `dsf privacy seal`.
#[derive(Debug, Args)]
pub struct SealArgs {
    /// Sender organization identifier.
    #[arg(long)]
    pub sender: String,
    /// Recipient as `ID=PATH`, PATH a public key or certificate PEM; repeat for several.
    #[arg(long = "recipient", required = true)]
    pub recipients: Vec<String>,
    /// File to encrypt (`-` for stdin).
    pub input: PathBuf,
    /// Write the envelope here instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// Arguments of `dsf privacy open`.
#[derive(Debug, Args)]
pub struct OpenArgs {
    /// Your organization identifier, as the sender addressed it.
    #[arg(long)]
    pub recipient: String,
    /// Your private key (PKCS#8 PEM).
    #[arg(long)]
    pub key: PathBuf,
    /// Fail unless the envelope names this sender.
    #[arg(long)]
    pub expect_sender: Option<String>,
    /// Envelope to decrypt (`-` for stdin).
    pub input: PathBuf,
    /// Write the content here instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// The CLK file format written by clkhash's command line.
#[derive(Debug, Serialize, Deserialize)]
struct ClkFile {
    clks: Vec<String>,
}

/// The linkage output: groups of `[dataset, row]`.
#[derive(Debug, Serialize, Deserialize)]
struct GroupsFile {
    groups: Vec<Vec<(usize, usize)>>,
}

/// Runs a `dsf privacy` subcommand.
pub fn run(args: PrivacyArgs) -> anyhow::Result<()> {
    match args.command {
        PrivacyCommand::Encode(a) => encode::encode(a),
        PrivacyCommand::Link(a) => link(a),
        PrivacyCommand::Keygen(a) => keygen(a),
        PrivacyCommand::Seal(a) => seal(a),
        PrivacyCommand::Open(a) => open(a),
    }
}

fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading stdin")?;
        Ok(buf)
    } else {
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))
    }
}

fn write_output(path: Option<&Path>, data: &[u8]) -> anyhow::Result<()> {
    match path {
        Some(p) => std::fs::write(p, data).with_context(|| format!("writing {}", p.display())),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(data).context("writing stdout")?;
            out.flush().context("writing stdout")
        }
    }
}

fn threads(requested: Option<usize>) -> usize {
    requested
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1)
}

fn progress(len: usize, what: &str) -> ProgressBar {
    if len < PROGRESS_MIN {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} {wide_bar} {pos}/{len} [{elapsed_precise} < {eta_precise}]",
    ) {
        bar.set_style(style);
    }
    bar.set_message(what.to_owned());
    bar
}

fn read_clks(path: &Path) -> anyhow::Result<Vec<BloomFilter>> {
    let data = read_input(path)?;
    let file: ClkFile = serde_json::from_slice(&data)
        .with_context(|| format!("{} is not a {{\"clks\": [...]}} file", path.display()))?;
    file.clks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            BloomFilter::from_base64(c).with_context(|| format!("{} entry {i}", path.display()))
        })
        .collect()
}

fn link(args: LinkArgs) -> anyhow::Result<()> {
    let datasets = args
        .inputs
        .iter()
        .map(|p| read_clks(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let work: usize = (0..datasets.len())
        .map(|i| datasets[i].len() * (datasets.len() - 1 - i))
        .sum();
    let bar = progress(work, "comparing");
    let started = Instant::now();
    let result = linkage::link_with_progress(
        &datasets,
        LinkOptions {
            threshold: args.threshold,
            threads: threads(args.threads),
            blocking: args.blocking.then_some(Blocking {
                bands: args.bands,
                bits: args.band_bits,
            }),
        },
        &|n| bar.inc(n),
    )?;
    bar.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    let all_pairs: u64 = (0..datasets.len())
        .flat_map(|i| (i + 1..datasets.len()).map(move |j| (i, j)))
        .map(|(i, j)| (datasets[i].len() * datasets[j].len()) as u64)
        .sum();
    eprintln!(
        "linked {} records: {} comparisons of {all_pairs} pairs after pruning, {} candidates, \
         {} groups in {elapsed:.3} s",
        datasets.iter().map(Vec::len).sum::<usize>(),
        result.comparisons,
        result.candidates,
        result.groups.len()
    );
    if let Some(truth_path) = &args.truth {
        let truth: GroupsFile =
            serde_json::from_slice(&read_input(truth_path)?).with_context(|| {
                format!("{} is not a {{\"groups\": ...}} file", truth_path.display())
            })?;
        let truth: Vec<Vec<RecordRef>> = truth
            .groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(|&(dataset, row)| RecordRef { dataset, row })
                    .collect()
            })
            .collect();
        let q = linkage::quality(&result.groups, &linkage::pairs(&truth));
        eprintln!(
            "precision {:.4} recall {:.4} F1 {:.4} ({} of {} predicted pairs true, {} true pairs)",
            q.precision, q.recall, q.f1, q.true_positives, q.predicted, q.actual
        );
    }
    let groups = GroupsFile {
        groups: result
            .groups
            .iter()
            .map(|g| g.iter().map(|r| (r.dataset, r.row)).collect())
            .collect(),
    };
    let mut json = serde_json::to_vec(&groups)?;
    json.push(b'\n');
    write_output(args.output.as_deref(), &json)
}

fn keygen(args: KeygenArgs) -> anyhow::Result<()> {
    let key = envelope::generate_key(args.bits)?;
    let private = envelope::private_key_to_pem(&key)?;
    let public = envelope::public_key_to_pem(&key.to_public_key())?;
    write_private(&args.private_key, private.as_bytes())?;
    std::fs::write(&args.public_key, public)
        .with_context(|| format!("writing {}", args.public_key.display()))?;
    Ok(())
}

#[cfg(unix)]
fn write_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    file.write_all(data)
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(not(unix))]
fn write_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, data).with_context(|| format!("writing {}", path.display()))
}

fn seal(args: SealArgs) -> anyhow::Result<()> {
    let mut keys = Vec::new();
    for spec in &args.recipients {
        let (id, path) = spec
            .split_once('=')
            .with_context(|| format!("recipient '{spec}' is not ID=PATH"))?;
        let pem = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
        let key = envelope::public_key_from_pem(&pem).with_context(|| format!("key {path}"))?;
        keys.push((id.to_owned(), key));
    }
    let recipients: Vec<(&str, &rsa::PublicKey)> =
        keys.iter().map(|(id, k)| (id.as_str(), k)).collect();
    let plaintext = read_input(&args.input)?;
    let sealed = envelope::seal(&args.sender, &recipients, &plaintext)?;
    write_output(args.output.as_deref(), &sealed)
}

fn open(args: OpenArgs) -> anyhow::Result<()> {
    let pem = std::fs::read_to_string(&args.key)
        .with_context(|| format!("reading {}", args.key.display()))?;
    let key = envelope::private_key_from_pem(&pem)?;
    let sealed = read_input(&args.input)?;
    let opened = envelope::open(&sealed, &args.recipient, &key)?;
    if let Some(expected) = &args.expect_sender
        && &opened.header.sender != expected
    {
        bail!(
            "envelope is from '{}', expected '{expected}'",
            opened.header.sender
        );
    }
    write_output(args.output.as_deref(), &opened.plaintext)
}
