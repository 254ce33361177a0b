//! CRC-64/XZ (ECMA-182), the checksum OSS reports as `x-oss-hash-crc64ecma`.
//!
//! Width 64, reflected polynomial 0xC96C5795D7870F42, init and xorout all ones. Bytes
//! are hashed by `crc-fast`, which picks carry-less multiplication (PCLMULQDQ,
//! VPCLMULQDQ, PMULL) at run time where the CPU has it and falls back to tables where
//! it does not; `benches/crc64.rs` measures it against the `crc` crate's tables. CRCs
//! of consecutive pieces [`combine`] into the CRC of the whole, which is how per-part
//! CRCs are checked against the object's.

use crc_fast::{CrcAlgorithm, Digest};

const ALGORITHM: CrcAlgorithm = CrcAlgorithm::Crc64Xz;

/// The reflected ECMA-182 polynomial.
const POLY: u64 = 0xC96C_5795_D787_0F42;

/// The CRC-64 of `data`. The CRC of no bytes is 0.
pub fn checksum(data: &[u8]) -> u64 {
    crc_fast::checksum(ALGORITHM, data)
}

/// Continues a CRC over more bytes: `update(checksum(a), b) == checksum(a ++ b)`, and
/// `update(0, x) == checksum(x)`.
pub fn update(crc: u64, data: &[u8]) -> u64 {
    // The register holds the CRC before the final inversion.
    let mut digest = Digest::new_with_init_state(ALGORITHM, !crc);
    digest.update(data);
    digest.finalize()
}

/// The CRC of `A ++ B` from `crc1 = checksum(A)`, `crc2 = checksum(B)` and
/// `len2 = len(B)`, without the bytes. `combine(c, x, 0) == c`.
///
/// Costs one 64x64 bit-matrix times vector product per set bit of `len2`: tens of
/// nanoseconds for a typical part size, a few microseconds at worst, so it can be
/// called once per part.
pub fn combine(crc1: u64, crc2: u64, len2: u64) -> u64 {
    if len2 == 0 {
        return crc1;
    }
    // With init == xorout, CRC(A ++ B) = Z^len(B) · CRC(A) ⊕ CRC(B), where Z is the
    // linear map one zero byte applies to the register (zlib's crc32_combine argument).
    let mut crc = crc1;
    let mut rest = len2;
    while rest != 0 {
        let k = rest.trailing_zeros() as usize;
        crc = times(&ZERO_BYTES[k], crc);
        rest &= rest - 1;
    }
    crc ^ crc2
}

/// A 64x64 matrix over GF(2): entry `n` is the image of the vector with only bit `n`
/// set.
type Matrix = [u64; 64];

/// `ZERO_BYTES[k]` advances a CRC register over 2^k zero bytes. Built at compile time
/// so that [`combine`] does no squaring at run time.
static ZERO_BYTES: [Matrix; 64] = zero_byte_operators();

/// `mat · vec`: the XOR of the columns selected by the bits of `vec`.
const fn times(mat: &Matrix, vec: u64) -> u64 {
    let mut sum = 0;
    let mut rest = vec;
    while rest != 0 {
        sum ^= mat[rest.trailing_zeros() as usize];
        rest &= rest - 1;
    }
    sum
}

/// `mat · mat`.
const fn square(mat: &Matrix) -> Matrix {
    let mut sq = [0; 64];
    let mut n = 0;
    while n < 64 {
        sq[n] = times(mat, mat[n]);
        n += 1;
    }
    sq
}

const fn zero_byte_operators() -> [Matrix; 64] {
    // One zero bit into the reflected register: shift right, and fold in the
    // polynomial when the bit shifted out was set.
    let mut bit = [0; 64];
    bit[0] = POLY;
    let mut n = 1;
    while n < 64 {
        bit[n] = 1 << (n - 1);
        n += 1;
    }
    let mut ops = [[0; 64]; 64];
    ops[0] = square(&square(&square(&bit)));
    let mut k = 1;
    while k < 64 {
        ops[k] = square(&ops[k - 1]);
        k += 1;
    }
    ops
}

/// A running CRC-64 over data fed in pieces, with the count of bytes fed.
///
/// `Crc64::default()` is the same as [`Crc64::new`].
#[derive(Clone, Debug, Default)]
pub struct Crc64 {
    crc: u64,
    len: u64,
}

impl Crc64 {
    /// A hasher that has seen nothing: value 0, length 0.
    pub fn new() -> Crc64 {
        Crc64::default()
    }

    /// Feeds more bytes; an empty slice changes nothing.
    pub fn update(&mut self, data: &[u8]) {
        self.crc = update(self.crc, data);
        self.len += data.len() as u64;
    }

    /// The CRC of everything fed so far (0 before anything is fed).
    pub fn value(&self) -> u64 {
        self.crc
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether no bytes were fed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bit-at-a-time CRC-64/XZ, straight from the definition.
    fn reference(data: &[u8]) -> u64 {
        let mut crc = u64::MAX;
        for &b in data {
            crc ^= b as u64;
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ POLY
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn random_bytes(rng: &mut fastrand::Rng, len: usize) -> Vec<u8> {
        let mut data = vec![0; len];
        rng.fill(&mut data);
        data
    }

    #[test]
    fn protocol_vectors() {
        assert_eq!(checksum(b"123456789"), 0x995D_C9BB_DF19_39FA);
        assert_eq!(checksum(b"123456789"), 11051210869376104954);
        assert_eq!(checksum(b""), 0);
        assert_eq!(checksum(b"a"), 0x3302_8477_2E65_2B05);
        assert_eq!(checksum(b"hello world"), 0x5303_7ECD_EF23_52DA);
    }

    #[test]
    fn protocol_combine_vector() {
        assert_eq!(
            combine(checksum(b"12345"), checksum(b"6789"), 4),
            0x995D_C9BB_DF19_39FA
        );
    }

    #[test]
    fn reference_matches_protocol_vectors() {
        assert_eq!(reference(b"123456789"), 0x995D_C9BB_DF19_39FA);
        assert_eq!(reference(b""), 0);
        assert_eq!(reference(b"a"), 0x3302_8477_2E65_2B05);
    }

    #[test]
    fn checksum_matches_the_bitwise_reference() {
        let mut rng = fastrand::Rng::with_seed(7);
        // Lengths around the SIMD implementation's block and fold boundaries.
        let mut lengths: Vec<usize> = (0..=300).collect();
        lengths.extend([511, 512, 513, 1023, 1024, 1025, 4095, 4096, 4097, 65_537]);
        for len in lengths {
            let data = random_bytes(&mut rng, len);
            assert_eq!(checksum(&data), reference(&data), "len {len}");
        }
    }

    #[test]
    fn checksum_of_unaligned_slices_matches_the_reference() {
        let mut rng = fastrand::Rng::with_seed(8);
        let data = random_bytes(&mut rng, 2048);
        for start in 0..64 {
            let slice = &data[start..start + 1500];
            assert_eq!(checksum(slice), reference(slice), "start {start}");
        }
    }

    #[test]
    fn update_continues_across_any_split() {
        let mut rng = fastrand::Rng::with_seed(9);
        let data = random_bytes(&mut rng, 5000);
        let whole = checksum(&data);
        let mut splits = vec![0, 1, 2, 15, 16, 17, 100, 2500, 4999, 5000];
        splits.extend((0..200).map(|_| rng.usize(0..=data.len())));
        for split in splits {
            let (a, b) = data.split_at(split);
            assert_eq!(update(checksum(a), b), whole, "split {split}");
        }
    }

    #[test]
    fn update_from_zero_is_checksum() {
        let data = b"hello world";
        assert_eq!(update(0, data), checksum(data));
        assert_eq!(update(0, b""), 0);
    }

    #[test]
    fn update_with_nothing_keeps_the_crc() {
        let crc = checksum(b"hello");
        assert_eq!(update(crc, b""), crc);
    }

    #[test]
    fn combine_with_empty_second_part_is_identity() {
        assert_eq!(combine(12345, 0, 0), 12345);
        assert_eq!(combine(12345, 999, 0), 12345);
        assert_eq!(
            combine(checksum(b"abc"), checksum(b""), 0),
            checksum(b"abc")
        );
    }

    #[test]
    fn combine_with_empty_first_part_is_the_second_crc() {
        assert_eq!(combine(0, checksum(b"abc"), 3), checksum(b"abc"));
    }

    #[test]
    fn combine_of_random_splits_equals_crc_of_whole() {
        let mut rng = fastrand::Rng::with_seed(0x05_5EED);
        for _ in 0..300 {
            let len = rng.usize(0..20_000);
            let data = random_bytes(&mut rng, len);
            let whole = checksum(&data);
            let split = match rng.u8(0..4) {
                0 => 0,
                1 => len,
                _ => rng.usize(0..=len),
            };
            let (a, b) = data.split_at(split);
            assert_eq!(
                combine(checksum(a), checksum(b), b.len() as u64),
                whole,
                "len {len} split {split}"
            );
        }
    }

    #[test]
    fn folding_many_pieces_equals_crc_of_whole() {
        let mut rng = fastrand::Rng::with_seed(0xF01D);
        for _ in 0..200 {
            let len = rng.usize(0..20_000);
            let data = random_bytes(&mut rng, len);
            // At least three pieces; cuts may coincide, giving empty pieces.
            let mut cuts: Vec<usize> = (0..rng.usize(2..8)).map(|_| rng.usize(0..=len)).collect();
            cuts.extend([0, len]);
            cuts.sort_unstable();
            let mut folded = 0u64;
            for w in cuts.windows(2) {
                let piece = &data[w[0]..w[1]];
                folded = combine(folded, checksum(piece), piece.len() as u64);
            }
            assert_eq!(folded, checksum(&data), "cuts {cuts:?}");
        }
    }

    #[test]
    fn combine_matches_hashing_long_runs_of_zeros() {
        // Lengths with many set bits exercise many of the precomputed operators.
        let crc1 = checksum(b"prefix");
        for len in [1usize, 8, 255, 256, 65_535, 1_000_003, (1 << 22) - 1] {
            let zeros = vec![0u8; len];
            assert_eq!(
                combine(crc1, checksum(&zeros), len as u64),
                update(crc1, &zeros),
                "len {len}"
            );
        }
    }

    #[test]
    fn combine_is_associative_for_huge_lengths() {
        // The combine identity holds for any CRC values, so lengths far beyond what
        // can be hashed check the high operators (up to 2^63 bytes).
        let mut rng = fastrand::Rng::with_seed(0xA550C);
        for _ in 0..1000 {
            let (a, b, c) = (rng.u64(..), rng.u64(..), rng.u64(..));
            let len_b = rng.u64(1..=u64::MAX / 2);
            let len_c = rng.u64(1..=u64::MAX / 2);
            assert_eq!(
                combine(combine(a, b, len_b), c, len_c),
                combine(a, combine(b, c, len_c), len_b + len_c)
            );
        }
    }

    #[test]
    fn combine_agrees_with_crc_fast_for_any_length() {
        // An independent implementation (squaring at run time) as a second opinion.
        let mut rng = fastrand::Rng::with_seed(0xC0FFEE);
        for _ in 0..200 {
            let (a, b) = (rng.u64(..), rng.u64(..));
            let len = rng.u64(1..);
            assert_eq!(
                combine(a, b, len),
                crc_fast::checksum_combine(ALGORITHM, a, b, len),
                "len {len}"
            );
        }
    }

    #[test]
    fn running_hasher_starts_empty() {
        let h = Crc64::new();
        assert!(h.is_empty());
        assert_eq!(h.len(), 0);
        assert_eq!(h.value(), 0);
    }

    #[test]
    fn running_hasher_equals_one_shot() {
        let mut h = Crc64::new();
        h.update(b"hello ");
        h.update(b"");
        h.update(b"world");
        assert_eq!(h.value(), checksum(b"hello world"));
        assert_eq!(h.len(), 11);
        assert!(!h.is_empty());
    }

    #[test]
    fn running_hasher_over_random_chunks_equals_one_shot() {
        let mut rng = fastrand::Rng::with_seed(0xC4);
        let data = random_bytes(&mut rng, 100_000);
        let mut h = Crc64::default();
        let mut at = 0;
        while at < data.len() {
            let end = (at + rng.usize(0..3000)).min(data.len());
            h.update(&data[at..end]);
            at = end;
        }
        assert_eq!(h.value(), checksum(&data));
        assert_eq!(h.len(), data.len() as u64);
    }
}
