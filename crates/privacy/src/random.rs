//! Operating-system randomness for keys, nonces, shares and noise.

/// The operating system's random number generator failed.
#[derive(Debug, thiserror::Error)]
#[error("operating system random number generator failed: {0}")]
pub struct RandomError(String);

/// Fills `buf` with random bytes.
pub(crate) fn fill(buf: &mut [u8]) -> Result<(), RandomError> {
    getrandom::fill(buf).map_err(|e| RandomError(e.to_string()))
}

/// A uniformly random `u64`.
pub(crate) fn u64() -> Result<u64, RandomError> {
    getrandom::u64().map_err(|e| RandomError(e.to_string()))
}

/// Uniform in `0..bound` (`bound > 0`) by rejection sampling.
pub(crate) fn below(bound: u64) -> Result<u64, RandomError> {
    let zone = u64::MAX - (u64::MAX % bound);
    loop {
        let v = u64()?;
        if v < zone {
            return Ok(v % bound);
        }
    }
}
