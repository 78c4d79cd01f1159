//! Count obfuscation as the MII feasibility process does it, and the minimum-sites rule of the
//! HiGHmed feasibility process.
//!
//! [`CountObfuscator`] adds Laplace noise `-b sign(u) ln(1 - 2|u|)` (`u` uniform in
//! `[-0.5, 0.5)`, scale `b` default 2 = sensitivity 1 / ε 0.5), rounds to the nearest multiple of
//! 10 (halves up, as Java's `Math.round`) and never returns a negative value. The result is cached
//! per true count for a configurable window, so asking again for the same count within the window
//! returns the same value and averaging repeated answers does not reveal the count.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::random;

/// Errors in obfuscation and release.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AggregateError {
    /// The Laplace scale must be positive and finite.
    #[error("Laplace scale must be positive, got {0}")]
    Scale(f64),
    /// Too few sites contributed a non-zero count for the total to be released.
    #[error("only {contributing} sites contributed, at least {required} are required")]
    TooFewSites {
        /// Sites with a non-zero count.
        contributing: usize,
        /// Required number.
        required: usize,
    },
    /// The random number generator failed.
    #[error(transparent)]
    Random(#[from] random::RandomError),
}

/// Source of uniform numbers in `[-0.5, 0.5)` for the noise.
pub trait UniformSource {
    /// Next number in `[-0.5, 0.5)`.
    fn next(&mut self) -> Result<f64, random::RandomError>;
}

/// The operating system's random number generator.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsUniform;

impl UniformSource for OsUniform {
    fn next(&mut self) -> Result<f64, random::RandomError> {
        Ok((random::u64()? >> 11) as f64 / (1u64 << 53) as f64 - 0.5)
    }
}

/// Laplace count obfuscator with a per-count cache.
pub struct CountObfuscator<U: UniformSource = OsUniform> {
    scale: f64,
    window: Duration,
    max_entries: usize,
    cache: HashMap<u64, (u64, Instant)>,
    uniform: U,
}

impl CountObfuscator<OsUniform> {
    /// An obfuscator with scale `b` (default in MII: 2) that repeats its answer for the same
    /// count within `window`, using OS randomness.
    pub fn new(scale: f64, window: Duration) -> Result<Self, AggregateError> {
        Self::with_source(scale, window, OsUniform)
    }
}

/// Default Laplace scale of the MII feasibility process (sensitivity 1 / ε 0.5).
pub const DEFAULT_SCALE: f64 = 2.0;

/// Default time for which the same count gets the same answer. The MII process caches until the
/// cache is evicted or the engine restarts; a day bounds that explicitly.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

impl Default for CountObfuscator<OsUniform> {
    /// Scale [`DEFAULT_SCALE`], window [`DEFAULT_WINDOW`], OS randomness.
    fn default() -> Self {
        Self {
            scale: DEFAULT_SCALE,
            window: DEFAULT_WINDOW,
            max_entries: 10_000,
            cache: HashMap::new(),
            uniform: OsUniform,
        }
    }
}

impl<U: UniformSource> CountObfuscator<U> {
    /// An obfuscator drawing its noise from `uniform`.
    pub fn with_source(scale: f64, window: Duration, uniform: U) -> Result<Self, AggregateError> {
        if !(scale.is_finite() && scale > 0.0) {
            return Err(AggregateError::Scale(scale));
        }
        Ok(Self {
            scale,
            window,
            max_entries: 10_000,
            cache: HashMap::new(),
            uniform,
        })
    }

    /// The obfuscated value of `count` now.
    pub fn obfuscate(&mut self, count: u64) -> Result<u64, AggregateError> {
        self.obfuscate_at(count, Instant::now())
    }

    /// The obfuscated value of `count` at time `now` (cached answers younger than the window are
    /// repeated).
    pub fn obfuscate_at(&mut self, count: u64, now: Instant) -> Result<u64, AggregateError> {
        if let Some((value, at)) = self.cache.get(&count)
            && now.saturating_duration_since(*at) < self.window
        {
            return Ok(*value);
        }
        let noise = loop {
            let u = self.uniform.next()?;
            let inner = 1.0 - 2.0 * u.abs();
            if inner > 0.0 {
                break -self.scale * u.signum() * inner.ln();
            }
        };
        let value = round_to_ten(count as f64 + noise);
        if self.cache.len() >= self.max_entries {
            let window = self.window;
            self.cache
                .retain(|_, (_, at)| now.saturating_duration_since(*at) < window);
            if self.cache.len() >= self.max_entries {
                self.cache.clear();
            }
        }
        self.cache.insert(count, (value, now));
        Ok(value)
    }
}

/// Rounds to the nearest multiple of 10 (halves up), never below 0.
fn round_to_ten(x: f64) -> u64 {
    let tens = (x / 10.0 + 0.5).floor();
    if tens <= 0.0 { 0 } else { (tens as u64) * 10 }
}

/// Releases the total of per-site counts only if at least `min_sites` sites contributed a
/// non-zero count (the HiGHmed feasibility rule uses 3).
pub fn release_total(site_counts: &[u64], min_sites: usize) -> Result<u64, AggregateError> {
    let contributing = site_counts.iter().filter(|&&c| c > 0).count();
    if contributing < min_sites {
        return Err(AggregateError::TooFewSites {
            contributing,
            required: min_sites,
        });
    }
    Ok(site_counts.iter().sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_half_up_and_never_negative() {
        assert_eq!(round_to_ten(14.9), 10);
        assert_eq!(round_to_ten(15.0), 20);
        assert_eq!(round_to_ten(-4.0), 0);
        assert_eq!(round_to_ten(-30.0), 0);
    }
}
