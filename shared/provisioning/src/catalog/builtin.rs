//! The built-in catalogs (generated from real AWS data; see scripts/gen_catalog.py).

use super::Catalog;
use crate::error::{Error, Result};

/// Regions with a built-in catalog.
pub const REGIONS: &[&str] = &[];

/// The built-in catalog of `region`.
pub fn load(region: &str) -> Result<Catalog> {
    Err(Error::UnknownRegion {
        region: region.to_string(),
        known: REGIONS.join(", "),
    })
}
