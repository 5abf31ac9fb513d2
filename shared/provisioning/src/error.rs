//! The one error type of the crate.

/// Everything that can go wrong in a provisioning decision. Input errors name the file,
/// the document (0-based, within the file) and the field, so a user can fix the manifest.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{file}: document {document}: {field}: {message}")]
    InvalidManifest {
        file: String,
        document: usize,
        field: String,
        message: String,
    },
    #[error("{file}: {field}: {message}")]
    InvalidCatalog {
        file: String,
        field: String,
        message: String,
    },
    #[error("no built-in catalog for region {region:?} (built in: {known})")]
    UnknownRegion { region: String, known: String },
    #[error("built-in catalog data is corrupt: {0}")]
    CorruptBuiltinCatalog(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
