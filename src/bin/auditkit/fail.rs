//! The CLI's one error: a line for stderr and the exit code it ends with.

use std::fmt::Display;

/// Exit code: verify (or a bundle check) found a fault; commands return it as their
/// `ExitCode`, with the fault on stdout, not as an error.
pub(crate) const FAULT: u8 = 1;
/// Exit code: the command line or a file it names is unusable (clap's own code for usage).
pub(crate) const USAGE: u8 = 2;
/// Exit code: the store could not be opened or read.
pub(crate) const STORE: u8 = 3;

/// What ends a command early.
#[derive(Debug)]
pub(crate) struct Fail {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl Fail {
    pub(crate) fn usage(message: impl Display) -> Self {
        Fail {
            code: USAGE,
            message: message.to_string(),
        }
    }

    pub(crate) fn store(message: impl Display) -> Self {
        Fail {
            code: STORE,
            message: message.to_string(),
        }
    }

    /// An error of the library: bad input the operator gave is a usage error, anything
    /// else means the store (or a file) could not be read.
    pub(crate) fn from_lib(e: auditkit::Error) -> Self {
        match e {
            auditkit::Error::Invalid { .. }
            | auditkit::Error::Malformed { .. }
            | auditkit::Error::Checkpoint { .. } => Fail::usage(e),
            e => Fail::store(e),
        }
    }

    /// An error writing the command's output (stdout or `--out`).
    pub(crate) fn output(e: std::io::Error) -> Self {
        Fail::store(format!("cannot write the output: {e}"))
    }
}

impl From<auditkit::Error> for Fail {
    fn from(e: auditkit::Error) -> Self {
        // A reader that went away (`auditkit query ... | head`) is not an error worth a line.
        if let auditkit::Error::Io(io) = &e {
            if io.kind() == std::io::ErrorKind::BrokenPipe {
                return Fail::quiet();
            }
        }
        Fail::from_lib(e)
    }
}

impl From<std::io::Error> for Fail {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Fail::quiet();
        }
        Fail::output(e)
    }
}

impl Fail {
    /// Ends the command with exit 0 and no message.
    fn quiet() -> Self {
        Fail {
            code: 0,
            message: String::new(),
        }
    }
}

pub(crate) type Result<T, E = Fail> = std::result::Result<T, E>;
