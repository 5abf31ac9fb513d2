#![no_main]
//! Arbitrary bytes as a manifests file: add_file must give Ok or an Err naming the file,
//! never panic; when it parses, the whole simulation runs against a small fixed catalog.

use libfuzzer_sys::fuzz_target;
use provisioning::catalog::{Catalog, parse_catalog_json};
use provisioning::input::Manifests;
use std::sync::OnceLock;

const CATALOG: &str = r#"{
  "region": "us-west-2",
  "instanceTypes": [
    {
      "name": "m5.large", "architecture": "amd64", "vcpu": 2, "memoryMiB": 8192,
      "maxPods": 29, "hypervisor": "nitro",
      "offerings": [
        {"zone": "us-west-2a", "capacityType": "on-demand", "price": 0.096, "available": true},
        {"zone": "us-west-2b", "capacityType": "spot", "price": 0.035, "available": true}
      ]
    },
    {
      "name": "g5.xlarge", "architecture": "arm64", "vcpu": 4, "memoryMiB": 16384,
      "maxPods": 58, "hypervisor": "nitro",
      "gpus": [{"resource": "nvidia.com/gpu", "count": 1, "name": "a10g",
                "manufacturer": "nvidia", "memoryMiB": 24576}],
      "offerings": [
        {"zone": "us-west-2a", "capacityType": "on-demand", "price": 1.006, "available": true},
        {"zone": "us-west-2c", "capacityType": "spot", "price": 0.4, "available": false}
      ]
    }
  ]
}"#;

fn catalog() -> Catalog {
    static CATALOG_ONCE: OnceLock<Catalog> = OnceLock::new();
    CATALOG_ONCE
        .get_or_init(|| {
            parse_catalog_json("fixed-catalog.json", CATALOG).expect("fixed catalog parses")
        })
        .clone()
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut manifests = Manifests::default();
    match manifests.add_file("fuzz.yaml", &text) {
        Ok(()) => {
            // Errors from the simulation are fine (e.g. a missing node class); panics are not.
            let _ = provisioning::simulate(manifests, catalog(), &[]);
        }
        Err(e) => {
            let message = e.to_string();
            assert!(
                message.contains("fuzz.yaml"),
                "error does not name the file: {message}"
            );
        }
    }
});
