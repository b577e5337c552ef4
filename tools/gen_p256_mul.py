"""Generates the straight-line `mont_mul` / `mont_sqr` bodies of src/crypto/fast/p256_field.rs.

Usage: python3 tools/gen_p256_mul.py  (rewrites the region between the GENERATED markers in place).

Field elements are 9 limbs of 29 bits (radix 2^29, R = 2^261). Column k of the product gets the
products a_i*b_(k-i) plus the Montgomery digits m_j placed by m*p = m*2^256 - m*2^224 + m*2^192 +
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
        for i in range(max(0, k - (LIMBS - 1)), min(k, LIMBS - 1) + 1):
            terms.append(f"+ a{i} * b{k - i}")
    terms += red_terms(k)
    expr = " ".join(terms).lstrip("+ ")
    return expr


def gen(sq):
    names = ", ".join(f"a{i}" for i in range(LIMBS))
    out = [f"    let [{names}] = a.map(i64::from);"]
    if sq:
        out.append("    // Doubled limbs (< 2^30) so each cross product is computed once.")
        # The top limb is never the smaller index of a cross product, so its double is unused.
        ds = ", ".join([f"d{i}" for i in range(LIMBS - 1)] + ["_"])
        out.append(f"    let [{ds}] = a.map(|x| 2 * i64::from(x));")
    else:
        out.append(f"    let [{', '.join(f'b{i}' for i in range(LIMBS))}] = b.map(i64::from);")
    for k in range(2 * LIMBS - 1):
        expr = column(k, sq)
        out.append(f"    // column {k}")
        out.append(f"    let s = {expr};")
        if k < LIMBS:
            out.append(f"    let m{k} = s & MASK;")
        else:
            out.append(f"    let r{k - LIMBS} = (s & MASK) as u32;")
        out.append("    " + ("let mut carry" if k == 0 else "carry") + " = s >> 29;")
    out.append("    // column 17 holds only the carry: the top limb of a result < 2p < 2^257.")
    rs = ", ".join(f"r{i}" for i in range(LIMBS - 1))
    out.append(f"    final_subtract([{rs}, carry as u32])")
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
