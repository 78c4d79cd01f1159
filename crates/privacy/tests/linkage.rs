//! Matching: Dice similarity, pruning, one-to-one and multi-party grouping, quality figures.

use dsf_privacy::BloomFilter;
use dsf_privacy::blocking::Blocking;
use dsf_privacy::linkage::{
    LinkError, LinkOptions, RecordRef, candidate_pairs, link, link_with_progress, quality, solve,
};
use proptest::prelude::*;

fn filter(bits: &[usize]) -> BloomFilter {
    let mut f = BloomFilter::zeros(64);
    for &b in bits {
        f.set(b);
    }
    f
}

fn r(dataset: usize, row: usize) -> RecordRef {
    RecordRef { dataset, row }
}

fn blocked(threshold: f64) -> LinkOptions {
    LinkOptions {
        blocking: Some(Blocking::default()),
        ..options(threshold)
    }
}

fn options(threshold: f64) -> LinkOptions {
    LinkOptions {
        threshold,
        threads: 1,
        blocking: None,
    }
}

#[test]
fn dice_known_answers() {
    let a = filter(&[0, 1, 2, 3]);
    let b = filter(&[2, 3, 4, 5]);
    assert_eq!(a.dice(&b), 0.5);
    assert_eq!(a.dice(&filter(&[0, 1, 2])), 6.0 / 7.0);
    assert_eq!(a.dice(&filter(&[10])), 0.0);
}

#[test]
fn two_parties_are_matched_one_to_one_by_best_score() {
    // Candidates: a0-b0 0.875, a1-b0 0.78, a0-b1 0.75. Greedy takes a0-b0 first; then b0 and
    // a0 are taken, so a1 and b1 stay unmatched (greedy, not maximum cardinality).
    let a = vec![
        filter(&[0, 1, 2, 3, 4, 5, 6, 7]),
        filter(&[0, 1, 2, 3, 4, 5, 6, 9, 10, 11]),
    ];
    let b = vec![
        filter(&[0, 1, 2, 3, 4, 5, 6, 8]),
        filter(&[0, 1, 2, 3, 4, 5, 30, 31]),
    ];
    let (candidates, _) = candidate_pairs(&[a.clone(), b.clone()], options(0.7)).expect("ok");
    assert_eq!(candidates.len(), 3);
    let linkage = link(&[a, b], options(0.7)).expect("link");
    assert_eq!(linkage.groups, vec![vec![r(0, 0), r(1, 0)]]);
    assert_eq!((linkage.comparisons, linkage.candidates), (4, 3));
}

#[test]
fn three_parties_form_complete_groups_only() {
    let x = filter(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    let x2 = filter(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 10]);
    let x3 = filter(&[0, 1, 2, 3, 4, 5, 6, 7, 9, 10]);
    let y = filter(&[40, 41, 42, 43, 44, 45]);
    let y2 = filter(&[40, 41, 42, 43, 44, 46]);
    // z matches y2 best (0.92); y matches y2 (0.83) but not z (0.77), so under the
    // complete-linkage rule y cannot join {y2, z}.
    let z = filter(&[40, 41, 42, 43, 44, 46, 47]);
    let datasets = vec![vec![x, y.clone()], vec![y2, x2], vec![x3, z.clone()]];
    let linkage = link(&datasets, options(0.8)).expect("link");
    assert_eq!(
        linkage.groups,
        vec![vec![r(0, 0), r(1, 1), r(2, 0)], vec![r(1, 0), r(2, 1)]]
    );
    assert!(y.dice(&z) < 0.8);
}

#[test]
fn solving_does_not_depend_on_candidate_order() {
    let a = vec![filter(&[0, 1, 2, 3]), filter(&[10, 11, 12, 13])];
    let b = vec![filter(&[10, 11, 12, 14]), filter(&[0, 1, 2, 4])];
    let (mut candidates, _) = candidate_pairs(&[a, b], options(0.5)).expect("candidates");
    let forward = solve(&candidates);
    candidates.reverse();
    assert_eq!(solve(&candidates), forward);
    assert_eq!(
        forward,
        vec![vec![r(0, 0), r(1, 1)], vec![r(0, 1), r(1, 0)]]
    );
}

#[test]
fn progress_counts_every_record_of_each_lower_data_set() {
    let make = |n: usize| {
        (0..n)
            .map(|i| filter(&[i % 64, (i * 7) % 64]))
            .collect::<Vec<_>>()
    };
    let datasets = vec![make(600), make(300), make(10)];
    let seen = std::sync::atomic::AtomicU64::new(0);
    let with = link_with_progress(
        &datasets,
        LinkOptions {
            threshold: 0.9,
            threads: 3,
            blocking: None,
        },
        &|n| {
            seen.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        },
    )
    .expect("link");
    // Pairs (0,1), (0,2), (1,2): 600 + 600 + 300 records of the lower data set.
    assert_eq!(seen.into_inner(), 1500);
    assert_eq!(with, link(&datasets, options(0.9)).expect("link"));
}

#[test]
fn invalid_input_is_rejected() {
    let sets = [vec![filter(&[1])], vec![filter(&[1])]];
    for (bands, bits) in [(0, 10), (4, 0), (4, 65)] {
        let blocking = Some(Blocking { bands, bits });
        assert_eq!(
            link(
                &sets,
                LinkOptions {
                    blocking,
                    ..options(0.8)
                }
            ),
            Err(LinkError::Blocking(Blocking { bands, bits }))
        );
    }
    let a = vec![filter(&[1])];
    assert_eq!(
        link(std::slice::from_ref(&a), options(0.8)),
        Err(LinkError::TooFewDatasets)
    );
    for t in [0.0, 1.5, f64::NAN] {
        assert!(matches!(
            link(&[a.clone(), a.clone()], options(t)),
            Err(LinkError::Threshold(_))
        ));
    }
    let long = vec![BloomFilter::zeros(128)];
    assert!(matches!(
        link(&[a, long], options(0.8)),
        Err(LinkError::Length {
            dataset: 1,
            row: 0,
            expected: 64,
            found: 128
        })
    ));
}

#[test]
fn blocking_finds_near_copies_and_skips_unrelated_records() {
    // 200 random 1024-bit filters with about half of the bits set; data set b holds each with
    // 5 % of its bits flipped (Dice about 0.95), in reverse order.
    let mut state = 7u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let a: Vec<BloomFilter> = (0..200)
        .map(|_| BloomFilter::from_bytes(&(0..128).map(|_| next() as u8).collect::<Vec<_>>()))
        .collect();
    let b: Vec<BloomFilter> = a
        .iter()
        .rev()
        .map(|f| {
            let mut bytes = f.to_bytes();
            for _ in 0..51 {
                let bit = (next() % 1024) as usize;
                bytes[bit / 8] ^= 0x80 >> (bit % 8);
            }
            BloomFilter::from_bytes(&bytes)
        })
        .collect();
    let exact = link(&[a.clone(), b.clone()], options(0.8)).expect("link");
    let fast = link(&[a, b], blocked(0.8)).expect("link");
    assert_eq!(exact.groups.len(), 200);
    assert_eq!(fast.groups, exact.groups);
    assert_eq!(exact.comparisons, 40_000);
    assert!(fast.comparisons < 4_000, "{} comparisons", fast.comparisons);
}

#[test]
fn quality_counts_pairs_within_groups() {
    let groups = vec![vec![r(0, 0), r(1, 0)], vec![r(0, 1), r(1, 2), r(2, 0)]];
    let truth = vec![(r(1, 0), r(0, 0)), (r(0, 1), r(1, 2)), (r(0, 2), r(1, 1))];
    let q = quality(&groups, &truth);
    assert_eq!((q.true_positives, q.predicted, q.actual), (2, 4, 3));
    assert_eq!(q.precision, 0.5);
    assert!((q.recall - 2.0 / 3.0).abs() < 1e-12);
    assert!((q.f1 - 4.0 / 7.0).abs() < 1e-12);
}

fn arb_filters(max: usize) -> impl Strategy<Value = Vec<BloomFilter>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 16), 0..max)
        .prop_map(|rows| rows.iter().map(|b| BloomFilter::from_bytes(b)).collect())
}

proptest! {
    /// Pruning and threading never lose a pair that brute force finds.
    #[test]
    fn pruned_candidates_equal_brute_force(
        a in arb_filters(30),
        b in arb_filters(30),
        threshold in 0.05f64..=1.0,
        threads in 1usize..4,
    ) {
        let (found, _) = candidate_pairs(&[a.clone(), b.clone()], LinkOptions { threshold, threads, blocking: None })
            .expect("valid input");
        let mut found: Vec<(usize, usize)> = found.iter().map(|c| (c.a.row, c.b.row)).collect();
        found.sort();
        let mut brute = Vec::new();
        for (i, x) in a.iter().enumerate() {
            for (j, y) in b.iter().enumerate() {
                let both = x.and_popcount(y);
                let total = x.popcount() + y.popcount();
                if total > 0 && f64::from(2 * both) >= threshold * f64::from(total) {
                    brute.push((i, j));
                }
            }
        }
        prop_assert_eq!(found, brute);
    }

    /// Blocking finds a subset of the exact candidates, with the same scores.
    #[test]
    fn blocked_candidates_are_exact_candidates(
        sets in prop::collection::vec(arb_filters(20), 2..4),
        threshold in 0.3f64..=1.0,
        bands in 1usize..8,
        bits in 1u32..=64,
    ) {
        let (exact, _) = candidate_pairs(&sets, options(threshold)).expect("valid");
        let blocking = Some(Blocking { bands, bits });
        let (fast, _) = candidate_pairs(&sets, LinkOptions { blocking, ..options(threshold) })
            .expect("valid");
        for c in &fast {
            prop_assert!(exact.contains(c), "{c:?}");
        }
    }

    /// Groups never hold two records of one data set, and every pair in a group is a candidate.
    #[test]
    fn groups_are_complete_and_one_per_dataset(
        sets in prop::collection::vec(arb_filters(12), 2..5),
        threshold in 0.3f64..0.9,
    ) {
        let (candidates, _) = candidate_pairs(&sets, options(threshold)).expect("valid");
        for g in solve(&candidates) {
            let mut datasets: Vec<usize> = g.iter().map(|m| m.dataset).collect();
            datasets.dedup();
            prop_assert_eq!(datasets.len(), g.len());
            for (i, x) in g.iter().enumerate() {
                for y in &g[i + 1..] {
                    let d = sets[x.dataset][x.row].dice(&sets[y.dataset][y.row]);
                    prop_assert!(d >= threshold - 1e-12);
                }
            }
        }
    }
}
