//! Arbitrary input never panics: it parses, or it is rejected with a message that names
//! where the problem is.

use proptest::prelude::*;
use provisioning::catalog::parse_catalog_json;
use provisioning::input::Manifests;

fn yamlish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("apiVersion: v1\n".to_string()),
        Just("kind: Pod\n".to_string()),
        Just("kind: NodePool\n".to_string()),
        Just("apiVersion: karpenter.sh/v1\n".to_string()),
        Just("metadata: {name: a}\n".to_string()),
        Just("spec:\n".to_string()),
        Just("  containers: [{name: c, resources: {requests: {cpu: 1x}}}]\n".to_string()),
        Just("  template: {spec: {requirements: [{key: k, operator: Foo}]}}\n".to_string()),
        Just("---\n".to_string()),
        Just("- a\n".to_string()),
        Just("  : :\n".to_string()),
        Just("{\"kind\": \"Pod\"}\n".to_string()),
        "[ -~]{0,20}\n",
    ];
    prop::collection::vec(token, 0..12).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn manifests_never_panic(text in yamlish()) {
        let mut m = Manifests::default();
        if let Err(e) = m.add_file("input.yaml", &text) {
            let msg = e.to_string();
            prop_assert!(msg.starts_with("input.yaml: document "), "{msg}");
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(text in "\\PC{0,200}") {
        let _ = Manifests::default().add_file("input.yaml", &text);
        let _ = parse_catalog_json("catalog.json", &text);
    }

    #[test]
    fn catalogs_never_panic(
        vcpu in prop_oneof![Just("0".to_string()), Just("-1".to_string()), Just("2".to_string()), Just("1e40".to_string()), Just("\"x\"".to_string())],
        price in prop_oneof![Just("-0.1".to_string()), Just("0.1".to_string()), Just("null".to_string())],
        arch in prop_oneof![Just("amd64"), Just("arm64"), Just("sparc")],
    ) {
        let text = format!(r#"{{"region":"r","instanceTypes":[{{"name":"a.b","architecture":"{arch}","vcpu":{vcpu},"memoryMiB":1024,"maxPods":10,
            "offerings":[{{"zone":"z","capacityType":"spot","price":{price}}}]}}]}}"#);
        if let Err(e) = parse_catalog_json("catalog.json", &text) {
            prop_assert!(e.to_string().starts_with("catalog.json: "), "{e}");
        }
    }
}

#[test]
fn absurd_replica_counts_are_bad_input_not_an_out_of_memory() {
    let mut m = Manifests::default();
    m.add_file("big.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: big}\nspec:\n  replicas: 4294967295\n  template: {spec: {containers: [{name: c}]}}\n")
        .expect("parses");
    let catalog =
        parse_catalog_json("c.json", r#"{"region":"r","instanceTypes":[]}"#).expect("catalog");
    let err = provisioning::simulate(m, catalog, &[])
        .expect_err("rejected")
        .to_string();
    assert!(
        err.contains("big.yaml") && err.contains("spec.replicas"),
        "{err}"
    );
}
