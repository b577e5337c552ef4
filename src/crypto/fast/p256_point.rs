//! P-256 group arithmetic (y^2 = x^3 - 3x + b) in Jacobian coordinates, plus fixed-base tables.
//!
//! Verification never doubles: both u1*G and u2*Q are evaluated from precomputed tables of
//! j * 2^(w*i) * B (signed w-bit windows), so each costs one mixed addition per nonzero digit. All
//! exceptional cases of the addition law (equal or opposite inputs, infinity) are handled explicitly,
//! because crafted signatures can steer intermediate sums into them.

use super::p256_field::Fe;
use super::u256::{self, U256};

/// The curve constant b in Montgomery form.
const B: Fe = Fe([
    0x1897_bbfb,
    0x1cdf_6229,
    0x0184_86c4,
    0x0173_2821,
    0x1dad_59e0,
    0x0abf_7212,
    0x1a06_d110,
    0x1772_1d20,
    0x0086_00c3,
]);
/// The generator's affine coordinates in Montgomery form.
pub(super) const G: Affine = Affine {
    x: Fe([
        0x1522_8783,
        0x0730_d418,
        0x0db0_0bcf,
        0x057f_11fb,
        0x0a20_eb75,
        0x12b7_7622,
        0x0330_fdb9,
        0x1af4_dd57,
        0x0012_0bee,
    ]),
    y: Fe([
        0x12aa_c150,
        0x1253_57ce,
        0x0f22_e6ef,
        0x0e39_0e86,
        0x064b_1695,
        0x088d_d21f,
        0x02a9_7443,
        0x0296_2176,
        0x00ae_3fe3,
    ]),
};

/// An affine point (never the identity).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Affine {
    pub(super) x: Fe,
    pub(super) y: Fe,
}

impl Affine {
    /// Whether (x, y) satisfies y^2 = x^3 - 3x + b.
    pub(super) fn is_on_curve(&self) -> bool {
        let x3 = self.x.square().mul(&self.x);
        let three_x = self.x.double().add(&self.x);
        self.y.square() == x3.sub(&three_x).add(&B)
    }

    /// The point negation (x, -y).
    #[inline(always)]
    fn neg(&self) -> Affine {
        Affine {
            x: self.x,
            y: self.y.neg(),
        }
    }
}

/// A Jacobian point (X : Y : Z) for x = X/Z^2, y = Y/Z^3; Z = 0 encodes the identity.
#[derive(Clone, Copy, Debug)]
pub(super) struct Jacobian {
    pub(super) x: Fe,
    pub(super) y: Fe,
    pub(super) z: Fe,
}

impl Jacobian {
    /// The identity element.
    pub(super) const IDENTITY: Jacobian = Jacobian {
        x: Fe::ONE,
        y: Fe::ONE,
        z: Fe::ZERO,
    };

    /// Lifts an affine point (Z = 1).
    pub(super) fn from_affine(p: &Affine) -> Jacobian {
        Jacobian {
            x: p.x,
            y: p.y,
            z: Fe::ONE,
        }
    }

    /// Whether this is the identity.
    #[inline(always)]
    pub(super) fn is_identity(&self) -> bool {
        self.z.is_zero()
    }

    /// 2 * self, using a = -3 (dbl-2001-b: 3M + 5S). The identity maps to itself (Z stays 0).
    pub(super) fn double(&self) -> Jacobian {
        let delta = self.z.square();
        let gamma = self.y.square();
        let beta = self.x.mul(&gamma);
        let t = self.x.sub(&delta).mul(&self.x.add(&delta));
        let alpha = t.double().add(&t);
        let beta4 = beta.double().double();
        let x3 = alpha.square().sub(&beta4.double());
        let z3 = self.y.add(&self.z).square().sub(&gamma).sub(&delta);
        let gamma2_8 = gamma.square().double().double().double();
        let y3 = alpha.mul(&beta4.sub(&x3)).sub(&gamma2_8);
        Jacobian {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    /// self + q for an affine q (8M + 3S), complete: handles identity, q == self and q == -self.
    pub(super) fn add_affine(&self, q: &Affine) -> Jacobian {
        if self.is_identity() {
            return Jacobian::from_affine(q);
        }
        let z1z1 = self.z.square();
        let u2 = q.x.mul(&z1z1);
        let s2 = q.y.mul(&self.z.mul(&z1z1));
        let h = u2.sub(&self.x);
        let r = s2.sub(&self.y);
        if h.is_zero() {
            // Same x: either the same point (double) or its negation (sum is the identity).
            return if r.is_zero() {
                self.double()
            } else {
                Jacobian::IDENTITY
            };
        }
        let hh = h.square();
        let hhh = h.mul(&hh);
        let v = self.x.mul(&hh);
        let x3 = r.square().sub(&hhh).sub(&v.double());
        let y3 = r.mul(&v.sub(&x3)).sub(&self.y.mul(&hhh));
        let z3 = self.z.mul(&h);
        Jacobian {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    /// self + q for Jacobian q (12M + 4S), complete. Only used while building tables.
    pub(super) fn add(&self, q: &Jacobian) -> Jacobian {
        if self.is_identity() {
            return *q;
        }
        if q.is_identity() {
            return *self;
        }
        let z1z1 = self.z.square();
        let z2z2 = q.z.square();
        let u1 = self.x.mul(&z2z2);
        let u2 = q.x.mul(&z1z1);
        let s1 = self.y.mul(&q.z.mul(&z2z2));
        let s2 = q.y.mul(&self.z.mul(&z1z1));
        let h = u2.sub(&u1);
        let r = s2.sub(&s1);
        if h.is_zero() {
            return if r.is_zero() {
                self.double()
            } else {
                Jacobian::IDENTITY
            };
        }
        let hh = h.square();
        let hhh = h.mul(&hh);
        let v = u1.mul(&hh);
        let x3 = r.square().sub(&hhh).sub(&v.double());
        let y3 = r.mul(&v.sub(&x3)).sub(&s1.mul(&hhh));
        let z3 = self.z.mul(&q.z).mul(&h);
        Jacobian {
            x: x3,
            y: y3,
            z: z3,
        }
    }
}

/// k * base for a point that multiplies once (a DPoP proof's key): the 8 multiples 1..8 of the
/// base, then signed 4-bit windows from the top, 4 doublings and at most one mixed addition
/// each. About a quarter of the work of building the smallest fixed-base table.
pub(super) fn mul_once(base: &Affine, k: &U256) -> Jacobian {
    const W: usize = 4;
    const HALF: i32 = 1 << (W - 1);
    const WINDOWS: usize = 257usize.div_ceil(W);
    let b = Jacobian::from_affine(base);
    let mut multiples = Vec::with_capacity(HALF as usize);
    let mut m = b;
    multiples.push(m);
    for _ in 1..HALF {
        m = m.add(&b);
        multiples.push(m);
    }
    let multiples = batch_to_affine(&multiples);
    // The same signed recoding as `Table::accumulate`, low to high; applied high to low.
    let mut digits = [0i32; WINDOWS];
    let mut carry = 0i32;
    for (i, digit) in digits.iter_mut().enumerate() {
        let mut d = u256::bits(k, i * W, W) as i32 + carry;
        if d >= HALF {
            d -= 1 << W;
            carry = 1;
        } else {
            carry = 0;
        }
        *digit = d;
    }
    let mut acc = Jacobian::IDENTITY;
    for d in digits.iter().rev() {
        for _ in 0..W {
            acc = acc.double();
        }
        if *d == 0 {
            continue;
        }
        if let Some(p) = multiples.get(d.unsigned_abs() as usize - 1) {
            acc = if *d > 0 {
                acc.add_affine(p)
            } else {
                acc.add_affine(&p.neg())
            };
        }
    }
    acc
}

/// Converts many non-identity Jacobian points to affine with one field inversion (Montgomery's trick).
/// Identity inputs (which table construction never produces) would come out as (0, 0).
fn batch_to_affine(points: &[Jacobian]) -> Vec<Affine> {
    // prefix[i] = z_0 * ... * z_(i-1), skipping zero Zs so one bad entry cannot poison the batch.
    let mut prefix = Vec::with_capacity(points.len());
    let mut acc = Fe::ONE;
    for p in points {
        prefix.push(acc);
        if !p.z.is_zero() {
            acc = acc.mul(&p.z);
        }
    }
    let mut inv = acc.invert();
    let mut out = vec![
        Affine {
            x: Fe::ZERO,
            y: Fe::ZERO
        };
        points.len()
    ];
    for ((p, pre), o) in points.iter().zip(prefix.iter()).zip(out.iter_mut()).rev() {
        if p.z.is_zero() {
            continue;
        }
        let zinv = inv.mul(pre);
        inv = inv.mul(&p.z);
        let zinv2 = zinv.square();
        *o = Affine {
            x: p.x.mul(&zinv2),
            y: p.y.mul(&zinv2.mul(&zinv)),
        };
    }
    out
}

/// Fixed-base table for signed `w`-bit windows: entry (i, j-1) holds j * 2^(w*i) * B for j in 1..=2^(w-1).
#[derive(Clone)]
pub(super) struct Table {
    w: usize,
    windows: usize,
    points: Vec<Affine>,
}

/// Largest window count we ever need (w >= 4 gives at most ceil(257/4) = 65 windows).
const MAX_WINDOWS: usize = 65;

impl Table {
    /// Builds the table for base point `base` with window width `w` (4..=8).
    pub(super) fn new(base: &Affine, w: usize) -> Table {
        let w = w.clamp(4, 8);
        // Signed recoding of a 256-bit scalar can carry into bit 256, so cover 257 bits.
        let windows = 257usize.div_ceil(w);
        let half = 1usize << (w - 1);
        let mut jac = Vec::with_capacity(windows * half);
        let mut b = Jacobian::from_affine(base);
        for _ in 0..windows {
            let mut m = b;
            jac.push(m);
            for _ in 1..half {
                m = m.add(&b);
                jac.push(m);
            }
            // m = half * b; the next window base is 2^w * b = 2 * m.
            b = m.double();
        }
        Table {
            w,
            windows,
            points: batch_to_affine(&jac),
        }
    }

    /// acc += k * B, for any 256-bit k (not necessarily reduced), one mixed addition per nonzero digit.
    pub(super) fn accumulate(&self, acc: &mut Jacobian, k: &U256) {
        let w = self.w;
        let half = 1i32 << (w - 1);
        let mut carry = 0i32;
        for i in 0..self.windows.min(MAX_WINDOWS) {
            // Signed digit in [-2^(w-1), 2^(w-1)); the top window absorbs the final carry.
            let mut d = u256::bits(k, i * w, w) as i32 + carry;
            if d >= half {
                d -= 1 << w;
                carry = 1;
            } else {
                carry = 0;
            }
            if d == 0 {
                continue;
            }
            let idx = i * half as usize + (d.unsigned_abs() as usize - 1);
            if let Some(p) = self.points.get(idx) {
                *acc = if d > 0 {
                    acc.add_affine(p)
                } else {
                    acc.add_affine(&p.neg())
                };
            }
        }
    }
}
