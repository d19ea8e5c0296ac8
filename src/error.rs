//! Errors of the application layer.
//!
//! One small type for every layer: a kind (what the caller does with it) and a message that
//! names the structure and, where it came from the file, the file offset. Parsers build them with
//! [`malformed!`]; nothing here allocates on the success path.

use std::fmt;
use std::sync::Arc;

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
    /// An llgo-ld bug, never a property of the input: a plan that fails its own self-check,
    /// overlapping edits.
    Internal,
}

#[derive(Clone, Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    /// For [`ErrorKind::DoesNotFit`]: the bytes the entry section lacks.
    shortfall: Option<u64>,
    /// For [`ErrorKind::Io`]: the operating system's error, as [`std::error::Error::source`].
    source: Option<Arc<std::io::Error>>,
}

/// Two errors are equal when they say the same thing (the I/O source is not compared).
impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.message == other.message
            && self.shortfall == other.shortfall
    }
}

impl Eq for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), shortfall: None, source: None }
    }

    /// The blob needs `shortfall` more bytes in the entry section than it has.
    pub fn does_not_fit(shortfall: u64, message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::DoesNotFit,
            message: message.into(),
            shortfall: Some(shortfall),
            source: None,
        }
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

    /// An llgo-ld bug (see [`ErrorKind::Internal`]); the message starts with `internal: `.
    pub fn internal(message: impl Into<String>) -> Self {
        let message = message.into();
        let message =
            if message.starts_with("internal:") { message } else { format!("internal: {message}") };
        Self::new(ErrorKind::Internal, message)
    }

    /// A file-system error; `err` stays reachable as [`std::error::Error::source`].
    pub fn io(context: impl fmt::Display, err: std::io::Error) -> Self {
        let mut e = Self::new(ErrorKind::Io, format!("{context}: {err}"));
        e.source = Some(Arc::new(err));
        e
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

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// `malformed!("symbol index at {:#x}: ids not ascending", off)` builds an [`Error`] of kind
/// [`ErrorKind::Malformed`].
#[macro_export]
macro_rules! malformed {
    ($($arg:tt)*) => { $crate::error::Error::malformed(format!($($arg)*)) };
}

/// `internal!(...)` builds an [`Error`] of kind [`ErrorKind::Internal`] (an llgo-ld bug).
#[macro_export]
macro_rules! internal {
    ($($arg:tt)*) => { $crate::error::Error::internal(format!($($arg)*)) };
}

/// `unsupported!(...)` builds an [`Error`] of kind [`ErrorKind::Unsupported`].
#[macro_export]
macro_rules! unsupported {
    ($($arg:tt)*) => { $crate::error::Error::unsupported(format!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_keep_their_source_and_internal_errors_say_so() {
        use std::error::Error as _;
        let e = Error::io("out.tmp", std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert_eq!(e.kind(), ErrorKind::Io);
        let source = e.source().expect("io::Error as source");
        let io = source.downcast_ref::<std::io::Error>().expect("an io::Error");
        assert_eq!(io.kind(), std::io::ErrorKind::PermissionDenied);
        let i = Error::internal("edits overlap");
        assert_eq!(i.kind(), ErrorKind::Internal);
        assert_eq!(i.message(), "internal: edits overlap");
        assert!(i.source().is_none());
    }
}
