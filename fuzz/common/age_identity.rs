/// The age crate's own published test key pair (age 0.11 `x25519::tests::TEST_SK`/`TEST_PK`):
/// not a secret, and never used by haven itself. It lives with the test fixtures
/// (`tests/fixtures/fuzz-age-test-key.txt`: the identity, then the recipient) so that no key
/// material sits in the source tree. The fuzz target decrypts with it and `seedgen`
/// encrypts the seed corpus to it, so seeds open and the fuzzer starts from ciphertexts
/// whose header and payload are both good.
const KEY_PAIR: &str = include_str!("../../tests/fixtures/fuzz-age-test-key.txt");

pub fn test_sk() -> &'static str {
    KEY_PAIR.lines().next().unwrap_or_default().trim()
}

pub fn test_pk() -> &'static str {
    KEY_PAIR.lines().nth(1).unwrap_or_default().trim()
}
