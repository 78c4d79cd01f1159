//! `dsf privacy encode`: CSV rows into CLKs or record-level Bloom filters, in batches over
//! worker threads, written as `{"clks": [...]}`.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};

use super::{EncodeArgs, progress, read_input, threads, write_output};
use crate::filter::BloomFilter;
use crate::record_filter::{RecordFilterConfig, RecordFilterEncoder, RecordFilterKeys};
use crate::{ClkEncoder, LinkageSchema};

/// Rows read and encoded at a time, per thread.
const BATCH_PER_THREAD: usize = 1024;

/// One worker thread's encoder.
#[derive(Clone)]
enum RowEncoder {
    /// CLKs under a linkage schema; rows hold the schema's columns in order.
    Clk(ClkEncoder),
    /// Record-level filters; the CSV columns of the configured fields, in field order.
    Record(RecordFilterEncoder, Vec<usize>),
}

impl RowEncoder {
    /// Chooses the encoder from the arguments and checks the CSV header against it.
    fn new(args: &EncodeArgs, secret: &[u8], header: &[String]) -> anyhow::Result<Self> {
        if args.record_filter {
            let config = match &args.record_filter_config {
                Some(path) => RecordFilterConfig::from_json(&read_text(path, "configuration")?)
                    .with_context(|| format!("configuration {}", path.display()))?,
                None => RecordFilterConfig::highmed(),
            };
            let columns = config
                .fields
                .iter()
                .map(|f| {
                    header
                        .iter()
                        .position(|h| *h == f.name)
                        .with_context(|| format!("the CSV header has no column '{}'", f.name))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let keys = RecordFilterKeys::from_secret(secret);
            return Ok(Self::Record(
                RecordFilterEncoder::new(config, &keys)?,
                columns,
            ));
        }
        let Some(path) = &args.schema else {
            bail!("--schema or --record-filter is required");
        };
        let schema = LinkageSchema::from_json(&read_text(path, "schema")?)
            .with_context(|| format!("schema {}", path.display()))?;
        let encoder = ClkEncoder::new(&schema, secret)?;
        encoder.check_header(header).context("CSV header")?;
        Ok(Self::Clk(encoder))
    }

    fn encode<'r>(
        &mut self,
        row: &'r csv::StringRecord,
        fields: &mut Vec<&'r str>,
    ) -> anyhow::Result<BloomFilter> {
        fields.clear();
        match self {
            Self::Clk(encoder) => {
                fields.extend(row.iter());
                Ok(encoder.encode(fields)?)
            }
            Self::Record(encoder, columns) => {
                for &c in columns.iter() {
                    fields.push(row.get(c).with_context(|| {
                        format!(
                            "the row has {} columns, field column {c} is missing",
                            row.len()
                        )
                    })?);
                }
                Ok(encoder.encode(fields)?)
            }
        }
    }
}

fn read_text(path: &Path, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {what} {}", path.display()))
}

fn secret(args: &EncodeArgs) -> anyhow::Result<Vec<u8>> {
    Ok(match (&args.secret, &args.secret_file) {
        (Some(s), _) => s.clone().into_bytes(),
        (None, Some(p)) => {
            let mut s =
                std::fs::read(p).with_context(|| format!("reading secret {}", p.display()))?;
            while s.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                s.pop();
            }
            s
        }
        (None, None) => {
            bail!("a secret is required: --secret, --secret-file or DSF_PRIVACY_SECRET")
        }
    })
}

/// Runs `dsf privacy encode`.
pub(super) fn encode(args: EncodeArgs) -> anyhow::Result<()> {
    let secret = secret(&args)?;
    let data = read_input(&args.input)?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(data.as_slice());
    let header: Vec<String> = reader
        .headers()
        .context("reading the CSV header")?
        .iter()
        .map(str::to_owned)
        .collect();
    let encoder = RowEncoder::new(&args, &secret, &header)?;
    let threads = threads(args.threads);
    let mut encoders: Vec<RowEncoder> = (0..threads).map(|_| encoder.clone()).collect();
    let lines = data
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        .saturating_sub(1);
    let bar = progress(lines, "encoding");
    let started = Instant::now();
    let mut json = String::from("{\"clks\": [");
    let batch_len = BATCH_PER_THREAD * threads;
    let mut batch = vec![csv::StringRecord::with_capacity(256, header.len()); batch_len];
    // Per thread, the batch's encodings; kept across batches so that their memory is reused.
    let mut parts = vec![String::new(); threads];
    let mut done = 0;
    loop {
        let mut n = 0;
        while n < batch_len
            && reader
                .read_record(&mut batch[n])
                .with_context(|| format!("CSV row {}", done + n))?
        {
            n += 1;
        }
        if n == 0 {
            break;
        }
        let used = encode_batch(&mut encoders, &batch[..n], done, &mut parts)?;
        for part in &parts[..used] {
            if done > 0 || json.len() > 10 {
                json.push_str(", ");
            }
            json.push_str(part);
        }
        if done == 0 {
            // Room for all rows at the first batch's size per row.
            json.reserve(json.len() / n * lines.saturating_sub(n));
        }
        done += n;
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!(
        "encoded {done} records in {elapsed:.3} s ({:.0} records/s)",
        done as f64 / elapsed.max(1e-9)
    );
    json.push_str("]}\n");
    write_output(args.output.as_deref(), json.as_bytes())
}

/// Encodes a batch of rows on one thread per encoder, keeping the order: writes the
/// comma-separated quoted Base64 filters of consecutive chunks of rows to `outs` (one per
/// encoder) and returns how many of them it used. Errors name the row (from 0, `first` being the
/// batch's).
fn encode_batch(
    encoders: &mut [RowEncoder],
    rows: &[csv::StringRecord],
    first: usize,
    outs: &mut [String],
) -> anyhow::Result<usize> {
    let chunk = rows.len().div_ceil(encoders.len()).max(1);
    let work =
        |encoder: &mut RowEncoder, part: &[csv::StringRecord], offset: usize, out: &mut String| {
            let mut fields: Vec<&str> = Vec::new();
            out.clear();
            for (i, row) in part.iter().enumerate() {
                let filter = encoder
                    .encode(row, &mut fields)
                    .with_context(|| format!("row {}", offset + i))?;
                if i > 0 {
                    out.push_str(", ");
                }
                out.push('"');
                filter.append_base64(out);
                out.push('"');
            }
            anyhow::Ok(())
        };
    if encoders.len() == 1 || rows.len() <= chunk {
        work(&mut encoders[0], rows, first, &mut outs[0])?;
        return Ok(1);
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = encoders
            .iter_mut()
            .zip(outs.iter_mut())
            .zip(rows.chunks(chunk))
            .enumerate()
            .map(|(c, ((encoder, out), part))| {
                s.spawn(move || work(encoder, part, first + c * chunk, out))
            })
            .collect();
        let used = handles.len();
        for h in handles {
            h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))?;
        }
        Ok(used)
    })
}
