//! Part planning: how an object or file is split into parts. Pure functions.

use crate::crc64;
use crate::error::{Error, Result};

/// Smallest part size accepted: 100 KB.
pub const MIN_PART_SIZE: u64 = 100 * 1024;
/// Largest part size accepted: 5 GB.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// Most parts one transfer is split into.
pub const MAX_PARTS: u64 = 10_000;
/// Part size chosen when none is given (grown so there are at most [`MAX_PARTS`]).
pub const DEFAULT_PART_SIZE: u64 = 8 * 1024 * 1024;
/// Most worker threads one transfer runs; more is refused, as in C and the CLI.
pub const MAX_THREADS: usize = 64;

/// The part size for an object: the requested one (checked) or the default, grown
/// so there are at most [`MAX_PARTS`] parts.
///
/// # Errors
/// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) for a requested
/// size outside 100 KB..=5 GB.
pub fn plan_part_size(size: u64, requested: Option<u64>) -> Result<u64> {
    let base = match requested {
        Some(p) if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&p) => {
            return Err(Error::invalid(format!(
                "part size {p} is outside {MIN_PART_SIZE}..={MAX_PART_SIZE} bytes"
            )));
        }
        Some(p) => p,
        None => DEFAULT_PART_SIZE,
    };
    Ok(base.max(size.div_ceil(MAX_PARTS)))
}

/// Checks a worker count: 1..=[`MAX_THREADS`].
pub(crate) fn check_threads(threads: usize) -> Result<usize> {
    if (1..=MAX_THREADS).contains(&threads) {
        Ok(threads)
    } else {
        Err(Error::invalid(format!(
            "threads {threads} is outside 1..={MAX_THREADS}"
        )))
    }
}

/// An object or file of `size` bytes split into parts of `part_size` (the last one
/// shorter). Parts are numbered from 0 here; OSS's part numbers are index + 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    pub size: u64,
    pub part_size: u64,
}

impl Plan {
    /// A plan; `part_size` must not be 0 (checked by callers via [`plan_part_size`] or
    /// the checkpoint's validation).
    pub fn new(size: u64, part_size: u64) -> Plan {
        debug_assert!(part_size > 0);
        Plan { size, part_size }
    }

    /// How many parts.
    pub fn parts(&self) -> u64 {
        self.size.div_ceil(self.part_size)
    }

    /// The byte range `[start, end)` of part `index`.
    pub fn range(&self, index: u64) -> (u64, u64) {
        let start = index.saturating_mul(self.part_size).min(self.size);
        (start, start.saturating_add(self.part_size).min(self.size))
    }

    /// The length of part `index`.
    pub fn len(&self, index: u64) -> u64 {
        let (a, b) = self.range(index);
        b - a
    }

    /// Total bytes of the given parts.
    pub fn bytes_of(&self, indices: impl IntoIterator<Item = u64>) -> u64 {
        indices.into_iter().map(|i| self.len(i)).sum()
    }

    /// The parts not in `done` (indexes; others ignored), in order: a bitmap lookup
    /// per part, so a resume of 10,000 parts costs 10,000 steps, not 10^8.
    pub fn pending(&self, done: impl IntoIterator<Item = u64>) -> Vec<u64> {
        let mut recorded = vec![false; usize::try_from(self.parts()).unwrap_or(0)];
        for i in done {
            if let Some(slot) = usize::try_from(i).ok().and_then(|i| recorded.get_mut(i)) {
                *slot = true;
            }
        }
        (0..self.parts())
            .filter(|&i| !recorded[i as usize])
            .collect()
    }

    /// Bytes of the parts not in `pending`: what a resume already has.
    pub fn bytes_besides(&self, pending: &[u64]) -> u64 {
        self.size - self.bytes_of(pending.iter().copied())
    }

    /// The whole CRC-64 from every part's, given in any order as (index, crc).
    /// `None` when a part is missing or given twice.
    pub fn combine(&self, parts: &[(u64, u64)]) -> Option<u64> {
        let mut sorted = parts.to_vec();
        sorted.sort_unstable_by_key(|(i, _)| *i);
        if sorted.len() as u64 != self.parts()
            || sorted.iter().enumerate().any(|(n, (i, _))| n as u64 != *i)
        {
            return None;
        }
        Some(
            sorted
                .iter()
                .fold(0, |acc, (i, crc)| crc64::combine(acc, *crc, self.len(*i))),
        )
    }
}

/// OSS's number of part `index` (numbered from 0 by the plan), from 1. At most
/// [`MAX_PARTS`] parts are planned, so it fits.
pub(crate) fn part_number(index: u64) -> u32 {
    u32::try_from(index + 1).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_size_is_checked_and_grown_to_at_most_10000_parts() {
        assert_eq!(plan_part_size(1 << 30, None).unwrap(), DEFAULT_PART_SIZE);
        assert_eq!(plan_part_size(1 << 30, Some(1 << 20)).unwrap(), 1 << 20);
        let huge = 200 * (1u64 << 30);
        let p = plan_part_size(huge, Some(MIN_PART_SIZE)).unwrap();
        assert!(huge.div_ceil(p) <= MAX_PARTS);
        assert!(plan_part_size(10, Some(MIN_PART_SIZE - 1)).is_err());
        assert!(plan_part_size(10, Some(MAX_PART_SIZE + 1)).is_err());
    }

    #[test]
    fn part_ranges_cover_the_object_once() {
        let plan = Plan::new(1_000_003, 100_000);
        let mut next = 0;
        for i in 0..plan.parts() {
            let (a, b) = plan.range(i);
            assert_eq!(a, next);
            assert!(b > a);
            next = b;
        }
        assert_eq!(next, plan.size);
        assert_eq!(plan.bytes_of(0..plan.parts()), plan.size);
    }

    #[test]
    fn pending_parts_are_those_not_done_in_order_ignoring_strays() {
        let plan = Plan::new(1_000, 100);
        assert_eq!(plan.pending([]), (0..10).collect::<Vec<_>>());
        assert_eq!(
            plan.pending([9, 0, 4, 4, 10, u64::MAX]),
            vec![1, 2, 3, 5, 6, 7, 8]
        );
        assert!(plan.pending(0..10).is_empty());
        assert_eq!(plan.bytes_besides(&[1, 2, 3, 5, 6, 7, 8]), 300);
    }

    #[test]
    fn threads_outside_1_to_64_are_refused_not_clamped() {
        assert_eq!(check_threads(1).unwrap(), 1);
        assert_eq!(check_threads(MAX_THREADS).unwrap(), MAX_THREADS);
        assert!(check_threads(0).is_err());
        assert!(check_threads(MAX_THREADS + 1).is_err());
    }

    #[test]
    fn combined_crc_equals_the_whole_and_needs_every_part_once() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 31 % 251) as u8).collect();
        let plan = Plan::new(data.len() as u64, 300);
        let mut parts: Vec<(u64, u64)> = (0..plan.parts())
            .map(|i| {
                let (a, b) = plan.range(i);
                (i, crc64::checksum(&data[a as usize..b as usize]))
            })
            .collect();
        parts.reverse();
        assert_eq!(plan.combine(&parts), Some(crc64::checksum(&data)));
        assert_eq!(plan.combine(&parts[1..]), None);
        let mut twice = parts.clone();
        twice[0] = twice[1];
        assert_eq!(plan.combine(&twice), None);
    }
}
