//! Byte classification for text decoders: which bytes of a 64-byte block are field or line
//! ends, and which would make a CSV line need a full tokenizer.
//!
//! A CSV decoder that splits quote-free lines itself (the CSV source's split path) asks, per
//! block of 64 bytes, for two bit masks: delimiters and newlines, then quotes and carriage
//! returns; it visits the set bits of the first with `trailing_zeros` and needs the second
//! only to be zero. On x86_64 the masks come from SSE2 compares and `movemask` (SSE2 is
//! part of the x86_64 baseline, so no detection is needed); elsewhere, and as the test
//! oracle, from a byte loop ([`classify_block_scalar`]).
//!
//! # Example
//! ```
//! use millstream_kernels::text::classify_block;
//! let mut block = [b'x'; 64];
//! block[3] = b',';
//! block[10] = b'\n';
//! block[20] = b'"';
//! let (ends, special) = classify_block(&block, b',');
//! assert_eq!(ends, (1 << 3) | (1 << 10));
//! assert_eq!(special, 1 << 20);
//! ```

/// Bytes per block.
pub const BLOCK: usize = 64;

/// Bit `i` of the first mask: `block[i]` is `delimiter` or `\n`; of the second: `"` or
/// `\r`.
#[inline]
pub fn classify_block(block: &[u8; BLOCK], delimiter: u8) -> (u64, u64) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        // SAFETY: the function only needs SSE2, which this build targets (`cfg` above; it
        // is part of the x86_64 baseline, so every x86_64 CPU has it).
        unsafe { sse2::classify_block(block, delimiter) }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        classify_block_scalar(block, delimiter)
    }
}

/// [`classify_block`] one byte at a time: the portable path and the oracle of the SIMD one.
pub fn classify_block_scalar(block: &[u8; BLOCK], delimiter: u8) -> (u64, u64) {
    let (mut ends, mut special) = (0u64, 0u64);
    for (i, &b) in block.iter().enumerate() {
        ends |= u64::from(b == delimiter || b == b'\n') << i;
        special |= u64::from(b == b'"' || b == b'\r') << i;
    }
    (ends, special)
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };

    use super::BLOCK;

    /// Four 16-byte lanes: per lane two compares and an `or` per mask, then `movemask`.
    /// `benches/kernels_hash.rs` (`classify_block`) times it against the scalar loop.
    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn classify_block(block: &[u8; BLOCK], delimiter: u8) -> (u64, u64) {
        let (mut ends, mut special) = (0u64, 0u64);
        let splat = |b: u8| _mm_set1_epi8(i8::from_ne_bytes([b]));
        let (d, nl, quote, cr) = (splat(delimiter), splat(b'\n'), splat(b'"'), splat(b'\r'));
        for lane in 0..BLOCK / 16 {
            let bytes = &block[lane * 16..lane * 16 + 16];
            // SAFETY: `bytes` is 16 readable bytes (a slice of `block` of that length), and
            // `_mm_loadu_si128` reads exactly 16 bytes with no alignment requirement. SSE2 is
            // enabled on every x86_64 target, so the intrinsic is available.
            let v = unsafe { _mm_loadu_si128(bytes.as_ptr().cast::<__m128i>()) };
            let e = _mm_or_si128(_mm_cmpeq_epi8(v, d), _mm_cmpeq_epi8(v, nl));
            let s = _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, cr));
            // `movemask` sets the low 16 bits of an i32: one per byte.
            let bits = |m: __m128i| u64::from(_mm_movemask_epi8(m) as u32 & 0xffff);
            ends |= bits(e) << (lane * 16);
            special |= bits(s) << (lane * 16);
        }
        (ends, special)
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    #[test]
    fn simd_agrees_with_the_byte_loop() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let alphabet = [b'a', b',', b'\n', b'"', b'\r', b';', 0, 0xff, 0x80];
        for _ in 0..2_000 {
            let mut block = [0u8; BLOCK];
            for b in &mut block {
                *b = if rng.random_bool(0.2) {
                    rng.random()
                } else {
                    alphabet[rng.random_range(0..alphabet.len())]
                };
            }
            for delimiter in [b',', b';', b'\t', 0, 0xff, b'"'] {
                assert_eq!(
                    classify_block(&block, delimiter),
                    classify_block_scalar(&block, delimiter),
                    "{block:?} {delimiter}"
                );
            }
        }
    }
}
