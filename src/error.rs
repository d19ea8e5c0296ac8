//! Errors of the application layer.
//!
//! One small type for every layer: a kind (what the caller does with it) and a message that
//! names the structure and, where it came from the file, the file offset. Parsers build them with
//! [`malformed!`]; nothing here allocates on the success path.

use std::fmt;

/// What a caller does with an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input is damaged or inconsistent (a structure points outside the file, a count
    /// overflows, a chain loops).
    Malformed,
    /// Well-formed, but the rewrite cannot express it exactly (PIE relocations on the sections,
    /// a pointer format, a certificate signature, a stripped symbol table).
    Unsupported,
    /// The blob fits neither section. The one failure that a relink with padding can cure.
    DoesNotFit,
    /// A file-system or process error.
    Io,
    /// A bad command line of the tool subcommands.
    Usage,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    /// For [`ErrorKind::DoesNotFit`]: the bytes the entry section lacks.
    shortfall: Option<u64>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), shortfall: None }
    }

    /// The blob needs `shortfall` more bytes in the entry section than it has.
    pub fn does_not_fit(shortfall: u64, message: impl Into<String>) -> Self {
        Error { kind: ErrorKind::DoesNotFit, message: message.into(), shortfall: Some(shortfall) }
    }

    /// How many bytes the entry section lacks, when the table does not fit.
    pub fn shortfall(&self) -> Option<u64> {
        self.shortfall
    }

    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Malformed, message)
    }

    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }

    pub fn io(context: impl fmt::Display, err: std::io::Error) -> Self {
        Self::new(ErrorKind::Io, format!("{context}: {err}"))
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// Prefixes the message with where it happened (`"slice arm64: " + message`).
    pub fn context(self, what: impl fmt::Display) -> Self {
        Error { message: format!("{what}: {}", self.message), ..self }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// `malformed!("symbol index at {:#x}: ids not ascending", off)` builds an [`Error`] of kind
/// [`ErrorKind::Malformed`].
#[macro_export]
macro_rules! malformed {
    ($($arg:tt)*) => { $crate::error::Error::malformed(format!($($arg)*)) };
}

/// `unsupported!(...)` builds an [`Error`] of kind [`ErrorKind::Unsupported`].
#[macro_export]
macro_rules! unsupported {
    ($($arg:tt)*) => { $crate::error::Error::unsupported(format!($($arg)*)) };
}
