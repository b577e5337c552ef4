//! Published JOSE examples with their keys (public parts), typed in from the RFCs:
//! RFC 7515 appendix A.2 (RS256), A.3 (ES256), RFC 7520 §3.4 and §4.1 (RS256 over a text).

use serde_json::{json, Value};

/// The claims of RFC 7515 A.1–A.3: `{"iss":"joe",\r\n "exp":1300819380,\r\n ...}`.
pub const RFC7515_PAYLOAD: &str = concat!(
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt",
    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
);
pub const RFC7515_EXP: i64 = 1_300_819_380;

/// RFC 7515 A.2.1: the RSA key of the RS256 example (public part).
pub const A2_N: &str = concat!(
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddx",
    "HmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMs",
    "D1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSH",
    "SXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdV",
    "MTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8",
    "NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"
);
pub const A2_SIG: &str = concat!(
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7",
    "AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4",
    "BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K",
    "0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv",
    "hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB",
    "p0igcN_IoypGlUPQGe77Rw"
);

/// RFC 7515 A.3.1: the P-256 key of the ES256 example (public part).
pub const A3_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
pub const A3_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
pub const A3_SIG: &str = concat!(
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSA",
    "pmWQxfKTUJqPP3-Kg6NU1Q"
);

/// RFC 7520 §3.4 (RSA key "bilbo.baggins@hobbiton.example", public part) and §4.1.
pub const R7520_KID: &str = "bilbo.baggins@hobbiton.example";
pub const R7520_N: &str = concat!(
    "n4EPtAOCc9AlkeQHPzHStgAbgs7bTZLwUBZdR8_KuKPEHLd4rHVTeT",
    "-O-XV2jRojdNhxJWTDvNd7nqQ0VEiZQHz_AJmSCpMaJMRBSFKrKb2wqV",
    "wGU_NsYOYL-QtiWN2lbzcEe6XC0dApr5ydQLrHqkHHig3RBordaZ6Aj-",
    "oBHqFEHYpPe7Tpe-OfVfHd1E6cS6M1FZcD1NNLYD5lFHpPI9bTwJlsde",
    "3uhGqC0ZCuEHg8lhzwOHrtIQbS0FVbb9k3-tVTU4fg_3L_vniUFAKwuC",
    "LqKnS2BYwdq_mzSnbLY7h_qixoR7jig3__kRhuaxwUkRz5iaiQkqgc5g",
    "HdrNP5zw"
);
pub const R7520_41_HEADER: &str = concat!(
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZX",
    "hhbXBsZSJ9"
);
/// RFC 7520 §4 payload: "It’s a dangerous business, Frodo, …" (text, not a claims set).
pub const R7520_PAYLOAD: &str = concat!(
    "SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IH",
    "lvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBk",
    "b24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcm",
    "UgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4"
);
pub const R7520_41_SIG: &str = concat!(
    "MRjdkly7_-oTPTS3AXP41iQIGKa80A0ZmTuV5MEaHoxnW2e5CZ5NlKtainoFmK",
    "ZopdHM1O2U4mwzJdQx996ivp83xuglII7PNDi84wnB-BDkoBwA78185hX-Es4J",
    "IwmDLJK3lfWRa-XtL0RnltuYv746iYTh_qHRD68BNt1uSNCrUCTJDt5aAE6x8w",
    "W1Kt9eRo4QPocSadnHXFxnt8Is9UzpERV0ePPQdLuW3IS_de3xyIrDaLGdjluP",
    "xUAhb6L2aXic1U12podGU0KLUQSE_oI-ZnmKJ3F4uOZDnd6QZWJushZ41Axf_f",
    "cIe8u9ipH84ogoree7vjbU5y18kDquDg"
);

pub fn a2_token() -> String {
    format!("eyJhbGciOiJSUzI1NiJ9.{RFC7515_PAYLOAD}.{A2_SIG}")
}

pub fn a3_token() -> String {
    format!("eyJhbGciOiJFUzI1NiJ9.{RFC7515_PAYLOAD}.{A3_SIG}")
}

pub fn a2_jwk() -> Value {
    json!({"kty": "RSA", "n": A2_N, "e": "AQAB"})
}

pub fn a3_jwk() -> Value {
    json!({"kty": "EC", "crv": "P-256", "x": A3_X, "y": A3_Y})
}

/// The RFC 7520 §3.4 public key, as the RFC gives it (`use: sig`, its `kid`).
pub fn r7520_jwk() -> Value {
    json!({"kty": "RSA", "kid": R7520_KID, "use": "sig", "n": R7520_N, "e": "AQAB"})
}

/// RFC 7520 §4.1: the compact JWS over the text payload.
pub fn r7520_41_token() -> String {
    format!("{R7520_41_HEADER}.{R7520_PAYLOAD}.{R7520_41_SIG}")
}
