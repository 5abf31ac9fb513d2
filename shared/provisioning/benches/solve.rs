//! The solver alone on Karpenter's scheduling-benchmark workload (and the manifest parse
//! beside it). Workloads come from ../shared/bench/gen_karpenter_bench.py; scripts/bench.sh
//! generates them into $NODELESS_BENCH_DIR (default target/bench-workloads) first.

use criterion::{Criterion, criterion_group, criterion_main};
use provisioning::catalog::{builtin, parse_catalog_json};
use provisioning::input::Manifests;
use provisioning::model::Problem;
use std::path::PathBuf;

fn workload_dir() -> PathBuf {
    std::env::var_os("NODELESS_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../target/bench-workloads"
            ))
        })
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("karpenter-workload");
    group.sample_size(10);
    for (name, builtin_region) in [
        ("w1000", None),
        ("w5000", None),
        ("w20000", None),
        ("w5000", Some("us-east-1")),
    ] {
        let dir = workload_dir().join(name);
        let (Ok(input), Ok(catalog_text)) = (
            std::fs::read_to_string(dir.join("input.yaml")),
            std::fs::read_to_string(dir.join("catalog.json")),
        ) else {
            eprintln!(
                "skipping {name}: run scripts/bench.sh to generate {}",
                dir.display()
            );
            continue;
        };
        let catalog = match builtin_region {
            Some(region) => builtin::load(region).expect("built-in catalog"),
            None => parse_catalog_json("catalog.json", &catalog_text).expect("catalog"),
        };
        let label = format!("{name}-{}", builtin_region.unwrap_or("bench-catalog"));
        group.bench_function(format!("parse/{label}"), |b| {
            b.iter(|| {
                let mut m = Manifests::default();
                m.add_file("input.yaml", &input).expect("parses");
                m
            })
        });
        group.bench_function(format!("solve/{label}"), |b| {
            b.iter_batched(
                || {
                    let mut m = Manifests::default();
                    m.add_file("input.yaml", &input).expect("parses");
                    m
                },
                |m| {
                    let problem = Problem::build(m, catalog.clone(), &[]).expect("builds");
                    provisioning::scheduling::solve(&problem)
                },
                criterion::BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
