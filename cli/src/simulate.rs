//! `nodeless simulate`: manifests and a catalog in, the provisioning decision out.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use provisioning::catalog::{Catalog, builtin, parse_catalog_json};
use provisioning::input::Manifests;
use provisioning::model::FargateProfile;
use provisioning::report::Report;

#[derive(clap::Args)]
pub struct Args {
    /// A YAML file (multi-document allowed) or a directory of *.yaml/*.yml files.
    #[arg(short = 'f', long = "filename", required = true)]
    files: Vec<PathBuf>,
    /// Instance-type catalog file (JSON) replacing the built-in catalog.
    #[arg(long, conflicts_with = "region")]
    catalog: Option<PathBuf>,
    /// Region of the built-in catalog.
    #[arg(long)]
    region: Option<String>,
    /// Extra Fargate profile: NAMESPACE[:key=value,...] (repeatable).
    #[arg(long = "fargate-profile")]
    fargate_profiles: Vec<String>,
    /// Do not assume the kube-system Fargate profile of the NodeLess layout.
    #[arg(long)]
    no_default_fargate: bool,
    /// json (default when stdout is not a terminal) or table.
    #[arg(long, value_parser = ["json", "table"])]
    output: Option<String>,
}

pub enum Failure {
    BadInput(String),
    Internal(anyhow::Error),
}

impl From<provisioning::Error> for Failure {
    fn from(e: provisioning::Error) -> Failure {
        match e {
            provisioning::Error::CorruptBuiltinCatalog(_) => Failure::Internal(e.into()),
            _ => Failure::BadInput(e.to_string()),
        }
    }
}

pub fn run(args: Args) -> Result<(), Failure> {
    let mut manifests = Manifests::default();
    for path in &args.files {
        for file in yaml_files(path)? {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| Failure::BadInput(format!("{}: cannot read: {e}", file.display())))?;
            manifests.add_file(&file.display().to_string(), &text)?;
        }
    }
    let catalog = load_catalog(&args)?;
    let mut profiles = Vec::new();
    if !args.no_default_fargate {
        profiles.push(FargateProfile {
            namespace: "kube-system".into(),
            labels: BTreeMap::new(),
        });
    }
    for spec in &args.fargate_profiles {
        profiles.push(parse_profile(spec)?);
    }
    let (solution, notes) = provisioning::simulate(manifests, catalog, &profiles)?;
    for note in notes {
        eprintln!("note: {note}");
    }
    let report = Report::from(&solution);
    let json = match args.output.as_deref() {
        Some("json") => true,
        Some(_) => false,
        None => !std::io::stdout().is_terminal(),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = if json {
        serde_json::to_writer(&mut out, &report)
            .map_err(anyhow::Error::from)
            .and_then(|_| Ok(writeln!(out)?))
    } else {
        crate::table::write(&mut out, &report).map_err(anyhow::Error::from)
    };
    written
        .and_then(|_| Ok(out.flush()?))
        .map_err(Failure::Internal)
}

fn yaml_files(path: &Path) -> Result<Vec<PathBuf>, Failure> {
    let meta = std::fs::metadata(path)
        .map_err(|e| Failure::BadInput(format!("{}: cannot read: {e}", path.display())))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries = std::fs::read_dir(path).map_err(|e| {
        Failure::BadInput(format!("{}: cannot read directory: {e}", path.display()))
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| {
            Failure::BadInput(format!("{}: cannot read directory: {e}", path.display()))
        })?;
        let p = entry.path();
        let is_yaml = p.extension().is_some_and(|e| e == "yaml" || e == "yml");
        if is_yaml && p.is_file() {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

fn load_catalog(args: &Args) -> Result<Catalog, Failure> {
    match &args.catalog {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Failure::BadInput(format!("{}: cannot read catalog: {e}", path.display()))
            })?;
            Ok(parse_catalog_json(&path.display().to_string(), &text)?)
        }
        None => Ok(builtin::load(
            args.region.as_deref().unwrap_or("us-east-1"),
        )?),
    }
}

fn parse_profile(spec: &str) -> Result<FargateProfile, Failure> {
    let bad = |why: &str| {
        Failure::BadInput(format!(
            "--fargate-profile {spec:?}: {why} (expected NAMESPACE[:key=value,...])"
        ))
    };
    let (namespace, rest) = spec.split_once(':').unwrap_or((spec, ""));
    if namespace.is_empty() {
        return Err(bad("empty namespace"));
    }
    let mut labels = BTreeMap::new();
    for pair in rest.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| bad(&format!("label {pair:?} has no '='")))?;
        if k.is_empty() {
            return Err(bad("empty label key"));
        }
        labels.insert(k.to_string(), v.to_string());
    }
    Ok(FargateProfile {
        namespace: namespace.to_string(),
        labels,
    })
}
