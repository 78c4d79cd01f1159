//! Count obfuscation, the minimum-sites rule and secure sums.

use std::time::{Duration, Instant};

use dsf_privacy::RandomError;
use dsf_privacy::obfuscation::{AggregateError, CountObfuscator, UniformSource, release_total};
use dsf_privacy::secure_sum::{self, MODULUS, SecureSumError};
use proptest::prelude::*;

/// Replays fixed uniform numbers.
struct Fixed(Vec<f64>);

impl UniformSource for Fixed {
    fn next(&mut self) -> Result<f64, RandomError> {
        Ok(self.0.remove(0))
    }
}

#[test]
fn laplace_noise_known_answers() {
    // noise = -b sign(u) ln(1 - 2|u|): u = 0.25 gives 2 ln 2 = 1.386, u = -0.25 gives -1.386,
    // u = 0.45 gives -2 ln 0.1 = 4.605.
    let mut o =
        CountObfuscator::with_source(2.0, Duration::ZERO, Fixed(vec![0.25, -0.25, 0.45, 0.0]))
            .expect("scale");
    assert_eq!(o.obfuscate(14).expect("ok"), 20); // 15.39 -> 20
    assert_eq!(o.obfuscate(14).expect("ok"), 10); // 12.61 -> 10
    assert_eq!(o.obfuscate(0).expect("ok"), 0); // 4.61 -> 0
    assert_eq!(o.obfuscate(25).expect("ok"), 30); // 25 exactly, halves round up
}

#[test]
fn never_negative() {
    // u = -0.4999 gives noise of about -17.
    let mut o =
        CountObfuscator::with_source(2.0, Duration::ZERO, Fixed(vec![-0.4999])).expect("ok");
    assert_eq!(o.obfuscate(3).expect("ok"), 0);
}

#[test]
fn same_count_gets_same_answer_within_the_window() {
    let mut o = CountObfuscator::with_source(
        2.0,
        Duration::from_secs(60),
        Fixed(vec![0.25, -0.25, -0.45]),
    )
    .expect("scale");
    let t0 = Instant::now();
    let first = o.obfuscate_at(14, t0).expect("ok");
    assert_eq!(
        o.obfuscate_at(14, t0 + Duration::from_secs(59))
            .expect("ok"),
        first
    );
    // Another count draws fresh noise, and the cache expires after the window.
    assert_eq!(o.obfuscate_at(0, t0).expect("ok"), 0);
    assert_eq!(
        o.obfuscate_at(14, t0 + Duration::from_secs(60))
            .expect("ok"),
        10
    ); // 9.39
}

#[test]
fn os_noise_is_rounded_and_bounded() {
    let mut o = CountObfuscator::new(2.0, Duration::ZERO).expect("scale");
    let values: Vec<u64> = (0..200).map(|_| o.obfuscate(1000).expect("ok")).collect();
    assert!(
        values
            .iter()
            .all(|v| v % 10 == 0 && (900..=1100).contains(v))
    );
    assert!(
        values.iter().any(|&v| v != values[0]),
        "noise varies without caching"
    );
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            CountObfuscator::new(bad, Duration::ZERO),
            Err(AggregateError::Scale(_))
        ));
    }
}

#[test]
fn default_repeats_answers() {
    let mut o = CountObfuscator::default();
    let first = o.obfuscate(123).expect("ok");
    assert!(first % 10 == 0 && (60..=190).contains(&first), "{first}");
    for _ in 0..20 {
        assert_eq!(o.obfuscate(123).expect("ok"), first);
    }
}

#[test]
fn totals_need_enough_contributing_sites() {
    assert_eq!(release_total(&[5, 7, 9], 3).expect("three sites"), 21);
    assert!(matches!(
        release_total(&[5, 0, 9, 0], 3),
        Err(AggregateError::TooFewSites {
            contributing: 2,
            required: 3
        })
    ));
}

#[test]
fn secure_sum_errors() {
    assert!(matches!(
        secure_sum::split(1, 1),
        Err(SecureSumError::Parties(1))
    ));
    assert!(matches!(
        secure_sum::split(MODULUS / 3 + 1, 3),
        Err(SecureSumError::SecretTooLarge { .. })
    ));
    assert!(matches!(
        secure_sum::partial_sum(&[1, 2], 3),
        Err(SecureSumError::Count {
            expected: 3,
            found: 2
        })
    ));
    assert!(matches!(
        secure_sum::reconstruct(&[1, MODULUS], 2),
        Err(SecureSumError::InvalidShare(_))
    ));
}

#[test]
fn shares_look_random() {
    let a = secure_sum::split(42, 3).expect("split");
    let b = secure_sum::split(42, 3).expect("split");
    assert_ne!(a, b);
    assert!(a.iter().all(|&s| s < MODULUS));
}

proptest! {
    /// N sites split their counts, exchange shares, add partial sums: the result is the total.
    #[test]
    fn sharing_protocol_reconstructs_the_total(counts in prop::collection::vec(0u64..1_000_000, 2..8)) {
        let n = counts.len();
        let shares: Vec<Vec<u64>> = counts.iter().map(|&c| secure_sum::split(c, n).expect("split")).collect();
        let partials: Vec<u64> = (0..n)
            .map(|site| {
                let received: Vec<u64> = shares.iter().map(|s| s[site]).collect();
                secure_sum::partial_sum(&received, n).expect("partial")
            })
            .collect();
        prop_assert_eq!(secure_sum::reconstruct(&partials, n).expect("total"), counts.iter().sum::<u64>());
    }

    #[test]
    fn largest_allowed_secrets_do_not_wrap(n in 2usize..10) {
        let limit = MODULUS / n as u64;
        let shares: Vec<Vec<u64>> = (0..n).map(|_| secure_sum::split(limit, n).expect("split")).collect();
        let partials: Vec<u64> = (0..n)
            .map(|i| secure_sum::partial_sum(&shares.iter().map(|s| s[i]).collect::<Vec<_>>(), n).expect("p"))
            .collect();
        prop_assert_eq!(secure_sum::reconstruct(&partials, n).expect("total"), limit * n as u64);
    }
}
