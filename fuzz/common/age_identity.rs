/// The age crate's own published test key pair (age 0.11 `x25519::tests::TEST_SK`/`TEST_PK`):
/// not a secret, and never used by haven itself. The fuzz target decrypts with it and
/// `seedgen` encrypts the seed corpus to it, so seeds open and the fuzzer starts from
/// ciphertexts whose header and payload are both good.
pub const TEST_SK: &str = "AGE-SECRET-KEY-1GQ9778VQXMMJVE8SK7J6VT8UJ4HDQAJUVSFCWCM02D8GEWQ72PVQ2Y5J33";
pub const TEST_PK: &str = "age1t7rxyev2z3rw82stdlrrepyc39nvn86l5078zqkf5uasdy86jp6svpy7pa";
