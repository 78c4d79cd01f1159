//! Secure sums by additive secret sharing modulo the prime `2^31 - 1`, as in the HiGHmed MPC
//! feasibility process: each of `N` sites splits its count into `N` shares (`N - 1` uniformly
//! random, the last one making the sum), sends share `i` to site `i`, every site adds the shares
//! it received into a partial sum, and the partial sums add up to the total. A site or the
//! requester sees only uniformly distributed shares or partial sums, never another site's count.
//!
//! To keep the total below the modulus, every secret must be at most `MODULUS / N` (the same
//! check as the reference).

use crate::random;

/// The ring modulus `2^31 - 1`.
pub const MODULUS: u64 = (1 << 31) - 1;

/// Errors in secret sharing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecureSumError {
    /// At least two parties are needed.
    #[error("secret sharing needs at least 2 parties, got {0}")]
    Parties(usize),
    /// A secret is too large for the number of parties.
    #[error("secret {secret} exceeds the limit {limit} for {parties} parties")]
    SecretTooLarge {
        /// The secret.
        secret: u64,
        /// `MODULUS / parties`.
        limit: u64,
        /// Number of parties.
        parties: usize,
    },
    /// A share or partial sum is not below the modulus.
    #[error("value {0} is not a valid share (must be below 2^31 - 1)")]
    InvalidShare(u64),
    /// The number of shares or partial sums does not match the number of parties.
    #[error("expected {expected} values, got {found}")]
    Count {
        /// Number of parties.
        expected: usize,
        /// Values given.
        found: usize,
    },
    /// The random number generator failed.
    #[error(transparent)]
    Random(#[from] random::RandomError),
}

/// Splits `secret` into `parties` additive shares modulo [`MODULUS`]; share `i` goes to party `i`.
pub fn split(secret: u64, parties: usize) -> Result<Vec<u64>, SecureSumError> {
    if parties < 2 {
        return Err(SecureSumError::Parties(parties));
    }
    let limit = MODULUS / parties as u64;
    if secret > limit {
        return Err(SecureSumError::SecretTooLarge {
            secret,
            limit,
            parties,
        });
    }
    let mut shares = Vec::with_capacity(parties);
    let mut sum = 0;
    for _ in 1..parties {
        let share = random::below(MODULUS)?;
        sum = (sum + share) % MODULUS;
        shares.push(share);
    }
    shares.push((secret + MODULUS - sum) % MODULUS);
    Ok(shares)
}

/// Adds values modulo [`MODULUS`], checking that each is a valid share.
fn add_all(values: &[u64]) -> Result<u64, SecureSumError> {
    values.iter().try_fold(0, |acc, &v| {
        if v >= MODULUS {
            Err(SecureSumError::InvalidShare(v))
        } else {
            Ok((acc + v) % MODULUS)
        }
    })
}

/// A site's partial sum of the shares it received, one from each of `parties` sites.
pub fn partial_sum(shares: &[u64], parties: usize) -> Result<u64, SecureSumError> {
    if shares.len() != parties {
        return Err(SecureSumError::Count {
            expected: parties,
            found: shares.len(),
        });
    }
    add_all(shares)
}

/// The total from the partial sums of all `parties` sites.
pub fn reconstruct(partial_sums: &[u64], parties: usize) -> Result<u64, SecureSumError> {
    partial_sum(partial_sums, parties)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer_reconstruction() {
        // Shares chosen by hand: 5 = 7 + (MODULUS - 2) mod MODULUS.
        assert_eq!(reconstruct(&[7, MODULUS - 2], 2).expect("valid"), 5);
    }
}
