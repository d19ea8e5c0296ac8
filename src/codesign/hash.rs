//! The CodeDirectory hash types we can compute with `sha2`. SHA-1 (`CS_HASHTYPE_SHA1`) is not
//! among them: a signature that carries a SHA-1 CodeDirectory is refused cleanly.

use sha2::Digest;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashType {
    /// `CS_HASHTYPE_SHA256` (2): what lld and `codesign` write.
    Sha256,
    /// `CS_HASHTYPE_SHA256_TRUNCATED` (3): the first 20 bytes of SHA-256.
    Sha256Truncated,
    /// `CS_HASHTYPE_SHA384` (4).
    Sha384,
}

impl HashType {
    pub fn from_cs(t: u8) -> Option<Self> {
        match t {
            2 => Some(HashType::Sha256),
            3 => Some(HashType::Sha256Truncated),
            4 => Some(HashType::Sha384),
            _ => None,
        }
    }

    /// Bytes of one slot.
    pub fn digest_len(self) -> u64 {
        match self {
            HashType::Sha256 => 32,
            HashType::Sha256Truncated => 20,
            HashType::Sha384 => 48,
        }
    }

    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            HashType::Sha256 => sha2::Sha256::digest(data).to_vec(),
            HashType::Sha256Truncated => {
                sha2::Sha256::digest(data).get(..20).unwrap_or_default().to_vec()
            }
            HashType::Sha384 => sha2::Sha384::digest(data).to_vec(),
        }
    }
}
