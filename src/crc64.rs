//! CRC-64/XZ (ECMA-182), the checksum OSS reports as `x-oss-hash-crc64ecma`.
//!
//! Width 64, reflected polynomial 0xC96C5795D7870F42, init and xorout all ones. The
//! implementation is `crc-fast` (carry-less multiplication where the CPU has it, chosen
//! at run time, with a portable fallback): `benches/crc64.rs` measures it against the
//! `crc` crate's tables. CRCs of consecutive pieces [`combine`] into the CRC of the
//! whole, which is how per-part CRCs are checked against the object's.

use crc_fast::{CrcAlgorithm, Digest};

const ALGORITHM: CrcAlgorithm = CrcAlgorithm::Crc64Xz;

/// The CRC-64 of `data`.
pub fn checksum(data: &[u8]) -> u64 {
    crc_fast::checksum(ALGORITHM, data)
}

/// Continues a CRC: `update(checksum(a), b) == checksum(a ++ b)`, and
/// `update(0, x) == checksum(x)`.
pub fn update(crc: u64, data: &[u8]) -> u64 {
    // The register holds the CRC before the final inversion.
    let mut digest = Digest::new_with_init_state(ALGORITHM, !crc);
    digest.update(data);
    digest.finalize()
}

/// The CRC of `A ++ B` from `crc1 = checksum(A)`, `crc2 = checksum(B)` and
/// `len2 = len(B)`, in O(log len2). `combine(c, x, 0) == c`.
pub fn combine(crc1: u64, crc2: u64, len2: u64) -> u64 {
    if len2 == 0 {
        return crc1;
    }
    crc_fast::checksum_combine(ALGORITHM, crc1, crc2, len2)
}

/// A running CRC-64 over data fed in pieces.
#[derive(Clone, Debug, Default)]
pub struct Crc64 {
    crc: u64,
    len: u64,
}

impl Crc64 {
    /// A hasher that has seen nothing (value 0).
    pub fn new() -> Crc64 {
        Crc64::default()
    }

    /// Feeds more bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.crc = update(self.crc, data);
        self.len += data.len() as u64;
    }

    /// The CRC of everything fed so far.
    pub fn value(&self) -> u64 {
        self.crc
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was fed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bit-at-a-time reference straight from the definition.
    fn reference(data: &[u8]) -> u64 {
        let mut crc = u64::MAX;
        for &b in data {
            crc ^= b as u64;
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xC96C_5795_D787_0F42
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn protocol_vectors() {
        assert_eq!(checksum(b"123456789"), 0x995D_C9BB_DF19_39FA);
        assert_eq!(checksum(b"123456789"), 11051210869376104954);
        assert_eq!(checksum(b""), 0);
        assert_eq!(checksum(b"a"), 0x3302_8477_2E65_2B05);
        assert_eq!(checksum(b"hello world"), 0x5303_7ECD_EF23_52DA);
        assert_eq!(
            combine(checksum(b"12345"), checksum(b"6789"), 4),
            0x995D_C9BB_DF19_39FA
        );
    }

    #[test]
    fn matches_the_bitwise_reference() {
        let mut rng = fastrand::Rng::with_seed(7);
        for len in [
            0usize, 1, 7, 8, 15, 16, 63, 64, 255, 256, 1000, 4097, 65_537,
        ] {
            let data: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            assert_eq!(checksum(&data), reference(&data), "len {len}");
        }
    }

    #[test]
    fn update_continues_across_any_split() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 31 % 256) as u8).collect();
        let whole = checksum(&data);
        for split in [0, 1, 2, 100, 2500, 4999, 5000] {
            let (a, b) = data.split_at(split);
            assert_eq!(update(checksum(a), b), whole, "split {split}");
        }
        assert_eq!(update(0, &data), whole);
    }

    #[test]
    fn combine_with_empty_second_part_is_identity() {
        assert_eq!(combine(12345, 0, 0), 12345);
        assert_eq!(
            combine(checksum(b"abc"), checksum(b""), 0),
            checksum(b"abc")
        );
        assert_eq!(combine(0, checksum(b"abc"), 3), checksum(b"abc"));
    }

    #[test]
    fn running_hasher_equals_one_shot() {
        let mut h = Crc64::new();
        assert!(h.is_empty());
        h.update(b"hello ");
        h.update(b"");
        h.update(b"world");
        assert_eq!(h.value(), checksum(b"hello world"));
        assert_eq!(h.len(), 11);
    }

    #[test]
    fn combine_of_random_splits_equals_crc_of_whole() {
        let mut rng = fastrand::Rng::with_seed(0x05_5EED);
        for _ in 0..300 {
            let len = rng.usize(0..20_000);
            let data: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            let whole = checksum(&data);
            let split = rng.usize(0..=len);
            let (a, b) = data.split_at(split);
            assert_eq!(combine(checksum(a), checksum(b), b.len() as u64), whole);
            // Fold several pieces, as parts are folded.
            let mut cuts: Vec<usize> = (0..rng.usize(1..6)).map(|_| rng.usize(0..=len)).collect();
            cuts.push(0);
            cuts.push(len);
            cuts.sort_unstable();
            let mut folded = 0u64;
            for w in cuts.windows(2) {
                let piece = &data[w[0]..w[1]];
                folded = combine(folded, checksum(piece), piece.len() as u64);
            }
            assert_eq!(folded, whole);
        }
    }
}
