//! Matching at the linking party: Dice similarity of Bloom filters, candidate pairs with
//! popcount pruning, and greedy clustering into groups of at most one record per data set.
//!
//! **Pruning.** Dice is at most `2 min(|A|,|B|) / (|A| + |B|)`, so for a record with popcount `p`
//! only records with popcount in `[p t / (2 - t), p (2 - t) / t]` can reach threshold `t`. Each
//! data set is sorted by popcount once and every record is compared with that window only.
//! This pruning is exact, but it only skips pairs of very different popcounts: FEBRL4's CLKs,
//! for example, have 40–70 % of their bits set, so at threshold 0.7 every pair lies inside the
//! window. No cheaper exact bound does much better on such dense filters: two unrelated records
//! with half of their bits set have about half of those in common (Dice about 0.5), and a bound
//! that has not looked at every word must assume that the unseen bits coincide. Where comparing all pairs is too slow, [`crate::blocking`] compares
//! only records that share a band of sampled bits, with a documented chance of missing pairs.
//!
//! **Solving.** All candidate pairs (Dice ≥ threshold, between different data sets) are visited
//! in order of decreasing similarity (ties by data set and row, so the result does not depend on
//! the input order). Two groups are merged when they share no data set and *every* pair across
//! them is a candidate — the complete-linkage ("MIN") rule of the HiGHmed matcher. For two data
//! sets this is the greedy one-to-one assignment. Unlike the HiGHmed matcher, which seeds clusters
//! with the largest site and then adds one site at a time, the outcome does not depend on the
//! order of the sites.

use std::collections::HashMap;

use crate::blocking::{BandIndex, Blocking};
use crate::filter::{BloomFilter, dice_from_counts};

/// Errors in linkage input.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum LinkError {
    /// The threshold must be in `(0, 1]`.
    #[error("threshold {0} is not in (0, 1]")]
    Threshold(f64),
    /// All filters must have the same length.
    #[error("data set {dataset} row {row} has {found} bits, expected {expected}")]
    Length {
        /// Data set index.
        dataset: usize,
        /// Row index.
        row: usize,
        /// Length of the first filter.
        expected: usize,
        /// Length of this filter.
        found: usize,
    },
    /// At least two data sets are needed.
    #[error("linkage needs at least two data sets")]
    TooFewDatasets,
    /// Blocking needs at least one band and 1 to 64 bits per band.
    #[error("blocking needs at least one band and 1 to 64 bits per band, not {0:?}")]
    Blocking(Blocking),
}

/// A record: data set number (from 0, in input order) and row (from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordRef {
    /// Data set number.
    pub dataset: usize,
    /// Row within the data set.
    pub row: usize,
}

/// A pair of records from different data sets with Dice similarity at least the threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Record from the data set with the lower number.
    pub a: RecordRef,
    /// Record from the data set with the higher number.
    pub b: RecordRef,
    /// Dice similarity.
    pub score: f64,
}

/// Result of [`link`].
#[derive(Debug, Clone, PartialEq)]
pub struct Linkage {
    /// Groups of two or more records, each from a different data set; records within a group
    /// and groups sorted.
    pub groups: Vec<Vec<RecordRef>>,
    /// Dice comparisons computed (after pruning).
    pub comparisons: u64,
    /// Candidate pairs found.
    pub candidates: usize,
}

/// Settings for [`link`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkOptions {
    /// Minimum Dice similarity of a match (HiGHmed uses 0.8).
    pub threshold: f64,
    /// Worker threads for the comparisons (at least 1).
    pub threads: usize,
    /// Compare only pairs that share a band ([`crate::blocking`]); `None` compares every pair
    /// within the popcount bound, which is exact.
    pub blocking: Option<Blocking>,
}

impl Default for LinkOptions {
    fn default() -> Self {
        Self {
            threshold: 0.8,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            blocking: None,
        }
    }
}

/// A data set sorted by popcount, its words stored contiguously for windowed comparisons, and
/// with blocking its band index (numbering records in sorted order).
struct Sorted {
    order: Vec<usize>,
    counts: Vec<u32>,
    words: Vec<u64>,
    stride: usize,
    index: Option<BandIndex>,
}

impl Sorted {
    fn new(filters: &[BloomFilter], blocking: Option<Blocking>) -> Self {
        let mut order: Vec<usize> = (0..filters.len()).collect();
        let pop: Vec<u32> = filters.iter().map(BloomFilter::popcount).collect();
        order.sort_by_key(|&i| (pop[i], i));
        let counts = order.iter().map(|&i| pop[i]).collect();
        let stride = filters.first().map_or(0, |f| f.words().len());
        let words: Vec<u64> = order
            .iter()
            .flat_map(|&i| filters[i].words().iter().copied())
            .collect();
        let len = filters.first().map_or(0, BloomFilter::len);
        let index = blocking.map(|blocking| BandIndex::new(blocking, len, &words, stride));
        Self {
            order,
            counts,
            words,
            stride,
            index,
        }
    }
}

/// Intersection popcounts of `a` with each filter in `block` (consecutive filters of `stride`
/// words), appended to `out`. Compiled for several CPU feature levels (hardware popcount, AVX2,
/// AVX-512 VPOPCNTDQ) and dispatched at run time by `multiversion`, since the workspace builds
/// for the baseline x86-64 target.
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512vpopcntdq",
    "x86_64+avx2+popcnt",
    "x86_64+popcnt",
    "aarch64+neon"
))]
fn intersections(a: &[u64], block: &[u64], stride: usize, out: &mut Vec<u32>) {
    // Plain loops rather than iterator closures: closures are compiled without the target
    // features of this function, which would leave a call per word.
    let a = &a[..stride.min(a.len())];
    let mut offset = 0;
    while offset + a.len() <= block.len() && !a.is_empty() {
        let b = &block[offset..offset + a.len()];
        let mut sum = 0;
        for (x, y) in a.iter().zip(b) {
            sum += (x & y).count_ones();
        }
        out.push(sum);
        offset += stride;
    }
}

/// Candidate pairs between data sets `a` and `b` (`a` numbered lower), with the number of
/// comparisons made.
fn candidates_between(
    a: &[BloomFilter],
    b: &Sorted,
    ids: (usize, usize),
    threshold: f64,
    threads: usize,
    progress: &Progress<'_>,
) -> (Vec<Candidate>, u64) {
    let lower = threshold / (2.0 - threshold);
    let upper = (2.0 - threshold) / threshold;
    let work = |range: std::ops::Range<usize>| {
        let mut found = Vec::new();
        let mut comparisons = 0u64;
        let mut both = Vec::new();
        let mut picked = Vec::new();
        let mut gathered = Vec::new();
        let mut seen = vec![false; if b.index.is_some() { b.order.len() } else { 0 }];
        for i in range {
            if i % 256 == 255 {
                progress(256);
            }
            let fa = &a[i];
            let pa = fa.popcount();
            let lo = (f64::from(pa) * lower).floor() as u32;
            let hi = (f64::from(pa) * upper).ceil() as u32;
            let start = b.counts.partition_point(|&c| c < lo);
            let end = b.counts.partition_point(|&c| c <= hi);
            // Positions in `b` to compare with: the popcount window, or those of its records
            // that share a band with `fa`.
            picked.clear();
            both.clear();
            match &b.index {
                None => {
                    picked.extend(start..end);
                    intersections(
                        fa.words(),
                        &b.words[start * b.stride..end * b.stride],
                        b.stride,
                        &mut both,
                    );
                }
                Some(index) => {
                    index.candidates(fa.words(), &mut seen, &mut picked);
                    picked.retain(|j| (start..end).contains(j));
                    gathered.clear();
                    for &j in &picked {
                        gathered.extend_from_slice(&b.words[j * b.stride..(j + 1) * b.stride]);
                    }
                    intersections(fa.words(), &gathered, b.stride, &mut both);
                }
            }
            comparisons += picked.len() as u64;
            for (&j, &both) in picked.iter().zip(&both) {
                let pb = b.counts[j];
                // Dice >= t  <=>  2 |A∧B| >= t (|A| + |B|), on exact integers converted to f64.
                if pa + pb > 0 && f64::from(2 * both) >= threshold * f64::from(pa + pb) {
                    found.push(Candidate {
                        a: RecordRef {
                            dataset: ids.0,
                            row: i,
                        },
                        b: RecordRef {
                            dataset: ids.1,
                            row: b.order[j],
                        },
                        score: dice_from_counts(both, pa, pb),
                    });
                }
            }
        }
        (found, comparisons)
    };
    let threads = threads.max(1).min(a.len().max(1));
    if threads == 1 {
        return work(0..a.len());
    }
    let chunk = a.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let range = (t * chunk).min(a.len())..((t + 1) * chunk).min(a.len());
                s.spawn(move || work(range))
            })
            .collect();
        let mut all = Vec::new();
        let mut total = 0;
        for h in handles {
            // A worker only panics on a bug; propagate it.
            let (found, comparisons) = h.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
            all.extend(found);
            total += comparisons;
        }
        (all, total)
    })
}

/// Progress callback: called with the number of records compared since the last call.
pub type Progress<'a> = dyn Fn(u64) + Sync + 'a;

/// All candidate pairs between every two data sets, and the number of comparisons made.
pub fn candidate_pairs(
    datasets: &[Vec<BloomFilter>],
    options: LinkOptions,
) -> Result<(Vec<Candidate>, u64), LinkError> {
    candidate_pairs_with_progress(datasets, options, &|_| {})
}

/// Like [`candidate_pairs`], reporting progress in records of the lower-numbered data set of
/// each pair (in total the sum over data set pairs `i < j` of the size of data set `i`).
pub fn candidate_pairs_with_progress(
    datasets: &[Vec<BloomFilter>],
    options: LinkOptions,
    progress: &Progress<'_>,
) -> Result<(Vec<Candidate>, u64), LinkError> {
    if !(options.threshold > 0.0 && options.threshold <= 1.0) {
        return Err(LinkError::Threshold(options.threshold));
    }
    if datasets.len() < 2 {
        return Err(LinkError::TooFewDatasets);
    }
    if let Some(b) = options.blocking
        && (b.bands == 0 || !(1..=64).contains(&b.bits))
    {
        return Err(LinkError::Blocking(b));
    }
    let expected = datasets.iter().flatten().next().map_or(0, BloomFilter::len);
    for (dataset, filters) in datasets.iter().enumerate() {
        if let Some((row, f)) = filters
            .iter()
            .enumerate()
            .find(|(_, f)| f.len() != expected)
        {
            return Err(LinkError::Length {
                dataset,
                row,
                expected,
                found: f.len(),
            });
        }
    }
    // Data set 0 is never looked up in, so it needs no band index.
    let sorted: Vec<Sorted> = datasets
        .iter()
        .enumerate()
        .map(|(i, d)| Sorted::new(d, options.blocking.filter(|_| i > 0)))
        .collect();
    let mut all = Vec::new();
    let mut comparisons = 0;
    for (i, a) in datasets.iter().enumerate() {
        for (j, b) in sorted.iter().enumerate().skip(i + 1) {
            let (found, n) =
                candidates_between(a, b, (i, j), options.threshold, options.threads, progress);
            progress(a.len() as u64 - (a.len() as u64 / 256) * 256);
            all.extend(found);
            comparisons += n;
        }
    }
    Ok((all, comparisons))
}

/// Groups records from candidate pairs (see the module documentation for the rule).
pub fn solve(candidates: &[Candidate]) -> Vec<Vec<RecordRef>> {
    let mut order: Vec<&Candidate> = candidates.iter().collect();
    order.sort_by(|x, y| {
        y.score
            .total_cmp(&x.score)
            .then_with(|| (x.a, x.b).cmp(&(y.a, y.b)))
    });
    let pairs: std::collections::HashSet<(RecordRef, RecordRef)> =
        candidates.iter().map(|c| ordered(c.a, c.b)).collect();
    let linked = |x: RecordRef, y: RecordRef| pairs.contains(&ordered(x, y));
    let mut group_of: HashMap<RecordRef, usize> = HashMap::new();
    let mut groups: Vec<Vec<RecordRef>> = Vec::new();
    for c in order {
        match (group_of.get(&c.a).copied(), group_of.get(&c.b).copied()) {
            (None, None) => {
                group_of.insert(c.a, groups.len());
                group_of.insert(c.b, groups.len());
                groups.push(vec![c.a, c.b]);
            }
            (Some(g), None) | (None, Some(g)) => {
                let new = if group_of.contains_key(&c.a) {
                    c.b
                } else {
                    c.a
                };
                let members = &groups[g];
                if members
                    .iter()
                    .all(|m| m.dataset != new.dataset && linked(*m, new))
                {
                    group_of.insert(new, g);
                    groups[g].push(new);
                }
            }
            (Some(g), Some(h)) if g != h => {
                let (x, y) = (&groups[g], &groups[h]);
                let compatible = x
                    .iter()
                    .all(|m| y.iter().all(|n| m.dataset != n.dataset && linked(*m, *n)));
                if compatible {
                    let moved = std::mem::take(&mut groups[h]);
                    for m in &moved {
                        group_of.insert(*m, g);
                    }
                    groups[g].extend(moved);
                }
            }
            _ => {}
        }
    }
    let mut groups: Vec<Vec<RecordRef>> = groups
        .into_iter()
        .filter(|g| g.len() >= 2)
        .map(|mut g| {
            g.sort();
            g
        })
        .collect();
    groups.sort();
    groups
}

fn ordered(x: RecordRef, y: RecordRef) -> (RecordRef, RecordRef) {
    if x <= y { (x, y) } else { (y, x) }
}

/// Links two or more data sets of Bloom filters: candidate pairs, then [`solve`].
pub fn link(datasets: &[Vec<BloomFilter>], options: LinkOptions) -> Result<Linkage, LinkError> {
    link_with_progress(datasets, options, &|_| {})
}

/// Like [`link`], reporting progress as [`candidate_pairs_with_progress`] does.
pub fn link_with_progress(
    datasets: &[Vec<BloomFilter>],
    options: LinkOptions,
    progress: &Progress<'_>,
) -> Result<Linkage, LinkError> {
    let (candidates, comparisons) = candidate_pairs_with_progress(datasets, options, progress)?;
    Ok(Linkage {
        groups: solve(&candidates),
        comparisons,
        candidates: candidates.len(),
    })
}

/// Precision, recall and F1 of predicted matches against the true matches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quality {
    /// Predicted pairs that are true.
    pub true_positives: usize,
    /// Predicted pairs.
    pub predicted: usize,
    /// True pairs.
    pub actual: usize,
    /// `true_positives / predicted` (1 when nothing is predicted).
    pub precision: f64,
    /// `true_positives / actual` (1 when there is nothing to find).
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
}

/// Every pair of records within each group (each pair once, lower record first).
pub fn pairs(groups: &[Vec<RecordRef>]) -> Vec<(RecordRef, RecordRef)> {
    let mut out = Vec::new();
    for g in groups {
        for (i, x) in g.iter().enumerate() {
            for y in &g[i + 1..] {
                out.push(ordered(*x, *y));
            }
        }
    }
    out
}

/// Compares the record pairs implied by `groups` (every two members of a group) with the
/// `truth` pairs (order within a pair does not matter).
pub fn quality(groups: &[Vec<RecordRef>], truth: &[(RecordRef, RecordRef)]) -> Quality {
    let truth: std::collections::HashSet<_> = truth.iter().map(|(x, y)| ordered(*x, *y)).collect();
    let predicted: std::collections::HashSet<_> = pairs(groups).into_iter().collect();
    let true_positives = predicted.intersection(&truth).count();
    let ratio = |n: usize, d: usize| if d == 0 { 1.0 } else { n as f64 / d as f64 };
    let precision = ratio(true_positives, predicted.len());
    let recall = ratio(true_positives, truth.len());
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    Quality {
        true_positives,
        predicted: predicted.len(),
        actual: truth.len(),
        precision,
        recall,
        f1,
    }
}
