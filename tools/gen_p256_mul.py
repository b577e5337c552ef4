"""Generates the straight-line `mont_mul` / `mont_sqr` bodies of src/crypto/fast/p256_field.rs.

Usage: python3 tools/gen_p256_mul.py  (rewrites the region between the GENERATED markers in place).

Field elements are 9 limbs of 29 bits (radix 2^29, R = 2^261). Column k of the product gets the
products a_i*b_(k-i) (for `mont_mul` summed first in vector lanes, src/crypto/fast/lanes.rs) plus the Montgomery digits m_j placed by m*p = m*2^256 - m*2^224 + m*2^192 +
m*2^96 - m, i.e. (m_j << 9) in column j+3, (m_j << 18) in j+6, -(m_j << 21) in j+7, (m_j << 24) in
j+8 (the -m_j in column j cancels that column's low 29 bits).
"""
import pathlib
import re

PATH = pathlib.Path(__file__).resolve().parent.parent / "src/crypto/fast/p256_field.rs"
LIMBS = 9


def red_terms(k):
    terms = []
    for off, shift, sign in ((3, 9, "+"), (6, 18, "+"), (7, 21, "-"), (8, 24, "+")):
        j = k - off
        if 0 <= j < LIMBS:
            terms.append(f"{sign} (m{j} << {shift})")
    return terms


def column(k, sq):
    terms = ["carry"] if k > 0 else []
    if sq:
        for i in range(max(0, k - (LIMBS - 1)), (k + 1) // 2):
            terms.append(f"+ d{i} * a{k - i}")
        if k % 2 == 0 and k // 2 < LIMBS:
            terms.append(f"+ a{k // 2} * a{k // 2}")
    else:
        terms.append(f"+ c{k}")
    terms += red_terms(k)
    expr = " ".join(terms).lstrip("+ ")
    return expr


def product_in_lanes():
    """The 81 products of a * b summed into column pairs (2k, 2k+1), two products per lane op.

    Row i (a_i times every b_j) lands in columns i..i+8. For even i the pairs (b0, b1), (b2, b3), ...
    line up with the column pairs; for odd i the pairs (0, b0), (b1, b2), ... do. Each quad holds two
    such pairs (its low and high halves), so a row is five lane multiplies.
    """
    out = [f"    let [{', '.join(f'b{i}' for i in range(LIMBS))}] = *b;"]
    out.append("    let even = [quad(b0, b1, b2, b3), quad(b4, b5, b6, b7), quad(b8, 0, 0, 0)];")
    out.append("    let odd = [quad(0, b0, b1, b2), quad(b3, b4, b5, b6), quad(b7, b8, 0, 0)];")
    seen = set()
    for i in range(LIMBS):
        out.append(f"    let x = splat(a[{i}]);")
        row = "even" if i % 2 == 0 else "odd"
        for k in range(5):
            half = "mul_low" if k % 2 == 0 else "mul_high"
            pair = i // 2 + k
            prod = f"{half}(x, {row}[{k // 2}])"
            if pair in seen:
                out.append(f"    p{pair} = add(p{pair}, {prod});")
            else:
                seen.add(pair)
                # The last pair (columns 16, 17) gets the one product a8*b8.
                binding = "let" if pair == 2 * (LIMBS // 2) else "let mut"
                out.append(f"    {binding} p{pair} = {prod};")
    out.append("    // Each column is at most 9 products < 2^58: below 2^62, so the sums fit an i64.")
    for pair in range(LIMBS):
        out.append(f"    let (c{2 * pair}, c{2 * pair + 1}) = split(p{pair});")
    out.append(f"    let [{', '.join(f'c{k}' for k in range(2 * LIMBS - 1))}, _] =")
    out.append(f"        [{', '.join(f'c{k}' for k in range(2 * LIMBS))}].map(|c| c as i64);")
    return out


def gen(sq):
    if sq:
        names = ", ".join(f"a{i}" for i in range(LIMBS))
        out = [f"    let [{names}] = a.map(i64::from);"]
        out.append("    // Doubled limbs (< 2^30) so each cross product is computed once.")
        # The top limb is never the smaller index of a cross product, so its double is unused.
        ds = ", ".join([f"d{i}" for i in range(LIMBS - 1)] + ["_"])
        out.append(f"    let [{ds}] = a.map(|x| 2 * i64::from(x));")
    else:
        out = product_in_lanes()
    for k in range(2 * LIMBS - 1):
        expr = column(k, sq)
        out.append(f"    // column {k}")
        out.append(f"    let s = {expr};")
        if k < LIMBS:
            out.append(f"    let m{k} = s & MASK;")
        else:
            out.append(f"    let r{k - LIMBS} = (s & MASK) as u32;")
        out.append("    " + ("let mut carry" if k == 0 else "carry") + " = s >> 29;")
    out.append("    // column 17 holds only the carry: the top limb of a result < p + 2^253 < 2^257.")
    rs = ", ".join(f"r{i}" for i in range(LIMBS - 1))
    out.append(f"    [{rs}, carry as u32]")
    return "\n".join(out)


def main():
    src = PATH.read_text()
    for name, sq in (("mont_mul", False), ("mont_sqr", True)):
        pat = re.compile(
            r"(    // GENERATED BEGIN %s\n).*?(    // GENERATED END %s\n)" % (name, name), re.S
        )
        src, count = pat.subn(lambda m: m.group(1) + gen(sq) + "\n" + m.group(2), src)
        assert count == 1, name
    PATH.write_text(src)


if __name__ == "__main__":
    main()
