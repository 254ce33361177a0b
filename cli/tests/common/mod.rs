//! Helpers shared by the process tests.
#![allow(dead_code)]

use std::io::Read;

/// Deterministic bytes, generated in pieces.
pub struct Pattern {
    pub left: u64,
    pub state: u64,
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.left as usize) / 8 * 8;
        let n = if n == 0 {
            buf.len().min(self.left as usize)
        } else {
            n
        };
        for chunk in buf[..n].chunks_mut(8) {
            self.state = self
                .state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            chunk.copy_from_slice(&self.state.to_le_bytes()[..chunk.len()]);
        }
        self.left -= n as u64;
        Ok(n)
    }
}

pub fn crc_of(mut reader: impl Read) -> u64 {
    let mut crc = oss_resume::crc64::Crc64::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            return crc.value();
        }
        crc.update(&buf[..n]);
    }
}
