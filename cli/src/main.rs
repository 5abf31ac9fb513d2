//! `nodeless`: the command line. `simulate` answers "what would be launched for these
//! pods?" offline, with the same decision code the provisioner runs in AWS.

mod catalog;
#[cfg(feature = "sandbox")]
mod sandbox;
mod simulate;
mod table;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "nodeless",
    version,
    about = "Karpenter-style node provisioning for EKS, as Lambda functions"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate provisioning for manifests, offline.
    Simulate(simulate::Args),
    /// Write an instance-type catalog file (the contract's format).
    Catalog(catalog::Args),
    /// Run a local AWS account (moto) and EKS cluster (Kubernetes API emulator).
    #[cfg(feature = "sandbox")]
    #[command(subcommand)]
    Sandbox(sandbox::Command),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    #[cfg(feature = "sandbox")]
    if let Command::Sandbox(command) = &cli.command {
        // One TLS provider for every client in the process (kube now, the AWS SDK later):
        // mixing ring and aws-lc-rs panics at the first TLS connection.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        return sandbox::main(command);
    }
    // A panic is a bug of ours, not bad input: report it as an internal error (exit 1).
    let outcome = std::panic::catch_unwind(|| match cli.command {
        Command::Simulate(args) => simulate::run(args),
        Command::Catalog(args) => catalog::run(args),
        // Run above, on its own runtime and with its own errors.
        #[cfg(feature = "sandbox")]
        Command::Sandbox(_) => Ok(()),
    });
    match outcome {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(simulate::Failure::BadInput(msg))) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Ok(Err(simulate::Failure::Internal(e))) => {
            eprintln!("internal error: {e:#}");
            ExitCode::from(1)
        }
        Err(_) => {
            eprintln!(
                "internal error: the simulation panicked (a bug: please report it with the input)"
            );
            ExitCode::from(1)
        }
    }
}
