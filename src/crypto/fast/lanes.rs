//! Two products of 32-bit limbs at once: the P-256 product's column sums in vector lanes.
//!
//! With wasm's `simd128` (on in the filter's build) a [`Quad`] is a `v128` of four `u32` and
//! [`mul_low`] / [`mul_high`] are `i64x2.extmul_{low,high}_i32x4_u`: two 32x32->64 products per
//! instruction, where the scalar code issues one 64-bit multiply per product. Measured in V8, the
//! Montgomery product with its columns summed this way took ~0.8x the time of the scalar one
//! (docs/performance.md). Everywhere else (native builds, `make build-scalar`) the same functions
//! work on plain arrays, so the tests run the same column layout the filter runs.

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod imp {
    use core::arch::wasm32::{
        i64x2_add, u32x4, u32x4_splat, u64x2_extmul_high_u32x4, u64x2_extmul_low_u32x4,
        u64x2_extract_lane, v128,
    };

    /// Four `u32` lanes.
    pub(in super::super) type Quad = v128;
    /// Two `u64` lanes.
    pub(in super::super) type Pair = v128;

    #[inline(always)]
    pub(in super::super) fn quad(a: u32, b: u32, c: u32, d: u32) -> Quad {
        u32x4(a, b, c, d)
    }

    #[inline(always)]
    pub(in super::super) fn splat(a: u32) -> Quad {
        u32x4_splat(a)
    }

    #[inline(always)]
    pub(in super::super) fn mul_low(x: Quad, y: Quad) -> Pair {
        u64x2_extmul_low_u32x4(x, y)
    }

    #[inline(always)]
    pub(in super::super) fn mul_high(x: Quad, y: Quad) -> Pair {
        u64x2_extmul_high_u32x4(x, y)
    }

    #[inline(always)]
    pub(in super::super) fn add(x: Pair, y: Pair) -> Pair {
        i64x2_add(x, y)
    }

    #[inline(always)]
    pub(in super::super) fn split(x: Pair) -> (u64, u64) {
        (u64x2_extract_lane::<0>(x), u64x2_extract_lane::<1>(x))
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod imp {
    /// Four `u32` lanes.
    pub(in super::super) type Quad = [u32; 4];
    /// Two `u64` lanes.
    pub(in super::super) type Pair = [u64; 2];

    #[inline(always)]
    pub(in super::super) fn quad(a: u32, b: u32, c: u32, d: u32) -> Quad {
        [a, b, c, d]
    }

    #[inline(always)]
    pub(in super::super) fn splat(a: u32) -> Quad {
        [a; 4]
    }

    #[inline(always)]
    pub(in super::super) fn mul_low(x: Quad, y: Quad) -> Pair {
        [
            u64::from(x[0]) * u64::from(y[0]),
            u64::from(x[1]) * u64::from(y[1]),
        ]
    }

    #[inline(always)]
    pub(in super::super) fn mul_high(x: Quad, y: Quad) -> Pair {
        [
            u64::from(x[2]) * u64::from(y[2]),
            u64::from(x[3]) * u64::from(y[3]),
        ]
    }

    #[inline(always)]
    pub(in super::super) fn add(x: Pair, y: Pair) -> Pair {
        [x[0].wrapping_add(y[0]), x[1].wrapping_add(y[1])]
    }

    #[inline(always)]
    pub(in super::super) fn split(x: Pair) -> (u64, u64) {
        (x[0], x[1])
    }
}

pub(super) use imp::{add, mul_high, mul_low, quad, splat, split};
