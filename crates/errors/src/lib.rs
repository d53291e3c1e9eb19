//! The one error map. Every library error of cloudgate says which [`ErrorKind`] it is and which
//! stable [`Classify::code`] scripts may branch on; the binary turns the kind into an exit code
//! and the gateway into an HTTP status, so the same failure means the same thing everywhere.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// What kind of failure an error is, from the point of view of whoever has to act on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// What the user gave is wrong: a flag, a file, a name, a malformed value.
    Usage,
    /// The thing named does not exist (or a prefix names none).
    NotFound,
    /// The certificate could not be trusted: no pin, a pin mismatch, a chain that does not verify.
    Trust,
    /// The tenant's credentials or account were refused.
    Auth,
    /// The request clashes with what exists: a name in use, a certificate in use, several matches.
    Conflict,
    /// Something needed is busy or out of reach for now: a lock held, a server down, a full disk.
    Unavailable,
    /// Reading or writing a file failed, or a stored file is damaged or unsafe.
    Io,
    /// A failure inside cloudgate or a library it uses (a key that cannot be generated).
    Internal,
}

impl ErrorKind {
    /// Every kind.
    pub const ALL: &'static [ErrorKind] = &[
        ErrorKind::Usage,
        ErrorKind::NotFound,
        ErrorKind::Trust,
        ErrorKind::Auth,
        ErrorKind::Conflict,
        ErrorKind::Unavailable,
        ErrorKind::Io,
        ErrorKind::Internal,
    ];

    /// The process exit code: 2 for what the user can fix in the command line, 3 for trust,
    /// 4 for credentials, 1 for everything else.
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Usage | ErrorKind::NotFound | ErrorKind::Conflict => 2,
            ErrorKind::Trust => 3,
            ErrorKind::Auth => 4,
            ErrorKind::Unavailable | ErrorKind::Io | ErrorKind::Internal => 1,
        }
    }

    /// The HTTP status an API answers with.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::Usage => 400,
            // A certificate that does not verify is a failed authentication of the peer.
            ErrorKind::Auth | ErrorKind::Trust => 401,
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::Unavailable => 503,
            ErrorKind::Io | ErrorKind::Internal => 500,
        }
    }

    /// The generic stable name of the kind, used when an error has no more precise code.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Usage => "bad_input",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Trust => "trust",
            ErrorKind::Auth => "authentication",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Io => "io",
            ErrorKind::Internal => "runtime",
        }
    }
}

/// Implemented by every library error: its kind and its stable code.
pub trait Classify {
    /// What kind of failure this is.
    fn kind(&self) -> ErrorKind;

    /// A stable, machine-readable name (`not_found`, `pin_mismatch`, `locked`…) for `--json`
    /// error objects and API bodies; the kind's name unless the error knows better.
    fn code(&self) -> &'static str {
        self.kind().name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_documented_table() {
        let codes: Vec<u8> = ErrorKind::ALL.iter().map(|k| k.exit_code()).collect();
        assert_eq!(codes, [2, 2, 3, 4, 2, 1, 1, 1]);
    }

    #[test]
    fn statuses_are_client_errors_only_for_what_the_client_can_fix() {
        for kind in ErrorKind::ALL {
            let client = (400..500).contains(&kind.http_status());
            let fixable = matches!(
                kind,
                ErrorKind::Usage
                    | ErrorKind::NotFound
                    | ErrorKind::Trust
                    | ErrorKind::Auth
                    | ErrorKind::Conflict
            );
            assert_eq!(client, fixable, "{kind:?}");
        }
    }

    #[test]
    fn names_are_distinct() {
        let mut names: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ErrorKind::ALL.len());
    }
}
