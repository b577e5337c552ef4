//! Fixed test keys, generated once with Python `cryptography` for this test suite only.
//! They protect nothing; fixed keys keep the suite fast (no RSA generation in debug builds)
//! and deterministic.

/// Test-only P-256 private scalar (hex). Never use outside tests.
pub const EC_A_D: &str = "b3f9db788f1a147f3fc2c28df3b16de8e8330bd8ef04960df6f58107d981591d";

/// Test-only P-256 private scalar (hex). Never use outside tests.
pub const EC_B_D: &str = "cbefe56614c76f0f08452b0a84942758707cd29d43e0a37d8445cc86fe041e7a";

/// Test-only RSA-2048 modulus (hex).
pub const RSA_A_N: &str = concat!(
    "c9ad13a9cdf1ca96b5c8e3c3f5ea251fc047ea8ae2823911276c72f66b34e38d9869b3fc8fc3450898416610a985210b",
    "ca26e75e657383a2fcbd7af3d5d55444c46d2d0a0e8e1824dcf13b33fdf5e53c71e7d8e1e882d37ad7d70eab72be35cb",
    "adb1de58c7981eefc2b9a382c1e1be03fa2c01089b880c1af39233a205d949eefd152d7944696ec76032eeb946c42697",
    "3521e384a4174845ba6f6d784106d370c55d136bc620f0d6d629cf91b150ee41159c7291565ad753f889d47b12d9fd2e",
    "4cfd95a3862a73bd88c422d68852c6207273ed85cac8b001ade395bbef3a3d9da1bcd661912fce3a2e830ccfe266a198",
    "3f69b21994449f7965230264bc60336f",
);

/// Test-only RSA-2048 private exponent (hex). Never use outside tests.
pub const RSA_A_D: &str = concat!(
    "3b74026ff47e6b32b2b45e30ceb60feba44b8f211255416d8529bb5a599065e4c021a925b35be565fb3c8c522d2749ee",
    "a7d180339bc4c9f1aa805156c09afb14aab364abaa4ec95f54a2e8c912fd026f274529f2af10a2377c99b181697a1971",
    "c9eabd997e7da1e11c8e8d5d66ba9dc19e668a8777124c3f45bebbe9efbf76c3af6a9eb4ba4e89760437f97ae70dd228",
    "df98ec827f71f0e47ea577a6cf09511e432ef49ac01316f63b58df4dc8273a5947a9277414cb5c43237120a39d463749",
    "a4d84c318a19c0ac2746dce40faddbe0a7963663362aa3672c52cb9984c9b8e767947db8d34857c5c4d27616f1916a2d",
    "2b3fb0a5469859875d9f3c7c50c0e3c1",
);

/// Test-only RSA-2048 prime p (hex).
pub const RSA_A_P: &str = concat!(
    "e750036b82614080fe5c5df37fa0e35a6ce54b769facc1935fba51ac4874bb4c3453e8125bff3a7125ffebd13621dd2b",
    "919ccdcd174d0c7d406d5786154aafa0a3574046610de5a96f14efccbf20151f2bec46f7bb133939c8fe2c5d52ed3f85",
    "976b89b03f91ed5e6aa5cd7c3dec162f040466ea87f20cf621160040f0c00d45",
);

/// Test-only RSA-2048 prime q (hex).
pub const RSA_A_Q: &str = concat!(
    "df3353d3f8e61a7f71728731aeda6bf5d7955efaac0e4c4f23fbbada316321e69a66aaf4a60d7a7cc435d53f44f30905",
    "605955b960aa226b05dc9e9a7d96a9ac3e3de7d6548eca6c30c0d8ca3a98d510eb1035f5ac4e31f5cc2bcca366f00eb8",
    "bc757b95009d33ac36e02d49939e894f4b8cc818cc1d918fff60ef8ac3138723",
);

/// SubjectPublicKeyInfo PEM of the test key RSA_A (for the HS256 key-confusion attack).
pub const RSA_A_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAya0Tqc3xypa1yOPD9eol
H8BH6origjkRJ2xy9ms0442YabP8j8NFCJhBZhCphSELyibnXmVzg6L8vXrz1dVU
RMRtLQoOjhgk3PE7M/315Txx59jh6ILTetfXDqtyvjXLrbHeWMeYHu/CuaOCweG+
A/osAQibiAwa85IzogXZSe79FS15RGlux2Ay7rlGxCaXNSHjhKQXSEW6b214QQbT
cMVdE2vGIPDW1inPkbFQ7kEVnHKRVlrXU/iJ1HsS2f0uTP2Vo4Yqc72IxCLWiFLG
IHJz7YXKyLABreOVu+86PZ2hvNZhkS/OOi6DDM/iZqGYP2myGZREn3llIwJkvGAz
bwIDAQAB
-----END PUBLIC KEY-----
";

/// Test-only RSA-2048 modulus (hex).
pub const RSA_B_N: &str = concat!(
    "a676506106caf2fc18e6b72e07f4b7c639a9e77bbc8ab95ffd18f6ed4e1e3e81d3c53a17a4ef13315bc6a7ac2ffb2da5",
    "1504693f123c5f1b91fea7debdb0c8a14ae2b6460966fff1705f5a86c8547a9f6c329d03b90af698d7d23a1b3ffa9f28",
    "0687c3aba4c31305dc56214932273d37009fb560babc1b27ffb31cba52699c8610c1ef699aab9a3222defc7a53c941be",
    "5cdf61adb85e58894bbf38ada07485cd0f04a7c402acd5ea2e65c0619c27bf5dc082ad43b49693add967b0741248b33c",
    "7d12cf017456786300e03799979fee1b351c9b56b2fe9c24678bf5bc7c0ad26584a94f7f2c1a0a76a8d23b8df718f3d0",
    "f61e3418e7b43f2728b1b08cc05fa5b1",
);

/// Test-only RSA-2048 private exponent (hex). Never use outside tests.
pub const RSA_B_D: &str = concat!(
    "02a17a8e3a01019b95da299976e339774ec87e61d07e41c54057016a0932c5aaa019ed1bdc0db23834badc4206a519d8",
    "d2cef5c9db242c9d9f2e4ee1608e97712321979f5e3d2c3cd8d98cf0f5e00deb1096f12fd2a0177b1d681366845995e3",
    "d84c937d56368609b0ec848ca75802e9e85eddcb38504a3e94d6341546c1a80958d6cb770520bb9182838ba4eb405525",
    "a3ea186c568aecc3ec12360084e689a8f10d26dc61012ba15648058427f03b7275e6b09da807a667a798f272e38cafd2",
    "1f7fb63c21cc0efd89dfcfca67807da128ead3d618be1620ff8ca1b7d9cb8a7986b756466fc2419ca397dd397276e985",
    "16cbb9b741a31a6f4bb1b4f99e5a2a85",
);

/// Test-only RSA-2048 prime p (hex).
pub const RSA_B_P: &str = concat!(
    "dcbbddbc18566f1fff42b3383b80b4866e2c2ab96ef8d42d22ac57ebddad07a9bce5b02fe333883d1878c374eef6541d",
    "869fb15cde376edc1ae93b94edc0c6e9ae9dc9b6e4b3bfad50c000caa38cae13831029e46d0fefa91dd2c1f957a86d60",
    "240f4859a39090bce62342f59ac8f2f7ff58182eeaf7a9366745a8b3e35025bd",
);

/// Test-only RSA-2048 prime q (hex).
pub const RSA_B_Q: &str = concat!(
    "c10eb4da0997ab2a57410b2ac3817c7ad63bff8b4ff17591672409aadc48ee0be95cb7cd7f8bee54af439b6faf428065",
    "c54fcb2fc6c9511c23ce5740a63624d8effd16a19ddcbbe61a9120927314e2cfe2fd7d24c48efdc70fbb3caa1d0ed92b",
    "e342f772255099145b6e12e728c0777c628579099949b2d2626307752cf29d05",
);

/// Test-only RSA-1024 modulus (hex).
pub const RSA_1024_N: &str = concat!(
    "eb256da048eafbac1db8086bf501b9f522fc4d47a5d82637377f20f683f4165f87e10ca2814f8611d84637a8810d7017",
    "e13fc7395bc08e7e5111c66280e0a952624a2deed41ab5c1f29904de85a1c2dd0a516f04ad34fed1af3ebe9ad0dfe7b6",
    "ba9264eba12bee2ce339515c98005373b0ce0157dbe0116b8de9da8ef0542463",
);

/// Test-only RSA-1024 private exponent (hex). Never use outside tests.
pub const RSA_1024_D: &str = concat!(
    "e2c94354ae5eeb81915c17cb3f0e7e31dd9f264d6eb6ec0c9f1a9e4902f49bcb60fa7d3c11a907ee17ff88d89c36c0a0",
    "575f329eb04e235fd282692a418febdc2e9c869c9a29a7e500dbbee775c2d022f59ffcda25d727d587bfe91e2949b2b6",
    "05e2f2b01358fb09c7b6060be943150635e61e467247531ca765faf9f7709631",
);

/// Test-only RSA-1024 prime p (hex).
pub const RSA_1024_P: &str = concat!(
    "f909c766a331d1dfa9fe5933275dddb68e302d66ce99aff283ae8ba15c47e32d6319bb5f254cd668b630dc78cf844d7b",
    "4557153139e1c330058c36a06b9b190b",
);

/// Test-only RSA-1024 prime q (hex).
pub const RSA_1024_Q: &str = concat!(
    "f1b83b7f8e95dc750f2a5d2e17e4646662b7185208ffac484d6fee8ce27291d93aa9992d85ea6a641b471f3da4b16964",
    "a419da424b15e0473a4059107408a909",
);
