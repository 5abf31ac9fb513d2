//! `nodeless catalog`: the instance-type catalog as a file, to inspect or edit and pass
//! to `simulate --catalog`. Today from the built-in data; from the live EC2 and Pricing
//! APIs once the AWS adapters land.

use std::io::Write;

use provisioning::catalog::{builtin, catalog_to_json};

use crate::simulate::Failure;

#[derive(clap::Args)]
pub struct Args {
    /// Region of the catalog.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Use the built-in catalog (generated from moto's EC2 data and public prices).
    #[arg(long)]
    builtin: bool,
}

pub fn run(args: Args) -> Result<(), Failure> {
    if !args.builtin {
        return Err(Failure::BadInput(
            "a live catalog needs the AWS adapters, which are not built yet: use --builtin".into(),
        ));
    }
    let catalog = builtin::load(&args.region)?;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, &catalog_to_json(&catalog))
        .map_err(|e| Failure::Internal(e.into()))?;
    writeln!(out).map_err(|e| Failure::Internal(e.into()))
}
