//! Unschedulable reasons, fit at the edge of allocatable, and the cheapest offering.

use super::*;

#[test]
fn oversize_pod_reason_names_the_resource() {
    // Largest allocatable: c5.xlarge 3920m / 6584Mi.
    let s = run_default(
        vec![
            plain("cpu-hog", "4", "512Mi"),
            plain("mem-hog", "100m", "7Gi"),
        ],
        &[c5_large(), c5_xlarge()],
    );
    assert!(s.claims.is_empty(), "{:#?}", s.claims);
    let r = reason(&s, "cpu-hog").expect("cpu-hog is unschedulable");
    assert!(r.contains("cpu") && !r.contains("memory"), "{r}");
    let r = reason(&s, "mem-hog").expect("mem-hog is unschedulable");
    assert!(r.contains("memory"), "{r}");
}

#[test]
fn a_pod_requesting_all_vcpus_does_not_fit() {
    // 2 cpu on c5.large (1930m allocatable) does not fit; c5.xlarge takes it.
    let s = run_default(vec![plain("p", "2", "512Mi")], &[c5_large(), c5_xlarge()]);
    assert_eq!(types_of(&s, "p"), strs(&["c5.xlarge"]));
}

#[test]
fn unoffered_extended_resource_is_unschedulable() {
    let mut p = plain("gpu", "100m", "128Mi");
    p["spec"]["containers"][0]["resources"]["limits"] = json!({"nvidia.com/gpu": 1});
    let s = run_default(vec![p], &[c5_large()]);
    let r = reason(&s, "gpu").expect("gpu is unschedulable");
    assert!(r.contains("nvidia.com/gpu"), "{r}");
}

#[test]
fn cheapest_prefers_spot_at_equal_price() {
    // c5.large: on-demand and spot at the same price in z-a.
    let mut offerings = offers(&["z-a"], "on-demand", 0.05);
    offerings.extend(offers(&["z-a"], "spot", 0.05));
    let s = run_default(
        vec![plain("p", "100m", "128Mi")],
        &[ty_with("c5.large", "amd64", 2, 4096, 29, &offerings)],
    );
    let c = claim_of(&s, "p");
    assert_eq!(c.capacity_types.len(), 2, "{c:#?}");
    assert_eq!(c.cheapest.capacity_type, "spot");
    assert_eq!(c.cheapest.price, 0.05);
}

#[test]
fn cheapest_ties_break_by_type_then_zone_name() {
    // Same price everywhere: the type then the zone that sort first.
    let in_c_and_b = offers(&["z-c", "z-b"], "on-demand", 0.1);
    let s = run_default(
        vec![plain("p", "100m", "128Mi")],
        &[
            ty_with("m5.large", "amd64", 2, 8192, 29, &in_c_and_b),
            ty_with("c5.large", "amd64", 2, 4096, 29, &in_c_and_b),
        ],
    );
    let c = claim_of(&s, "p");
    assert_eq!(c.cheapest.instance_type, "c5.large");
    assert_eq!(c.cheapest.zone, "z-b");
    assert_eq!(c.instance_types, strs(&["c5.large", "m5.large"]));
}
