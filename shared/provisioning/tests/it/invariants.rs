//! Properties every simulation must keep, on random workloads: each pod is accounted for
//! exactly once, and no claim breaks a hard constraint.

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use provisioning::catalog::{KubeletConfig, allocatable, parse_catalog_json};
use provisioning::input::Manifests;
use provisioning::resources::{CPU, MEMORY};

const ZONES: [&str; 3] = ["z-a", "z-b", "z-c"];

#[derive(Debug, Clone)]
struct PodSpec {
    cpu_m: u32,
    mem_mi: u32,
    kind: u8,
    zone: usize,
}

fn pod_doc(i: usize, p: &PodSpec) -> String {
    let (labels, extra) = match p.kind {
        // plain
        0 => (r#"{"app":"plain"}"#.to_string(), String::new()),
        // pinned to a zone by nodeSelector
        1 => (r#"{"app":"pinned"}"#.to_string(), format!(r#","nodeSelector":{{"topology.kubernetes.io/zone":"{}"}}"#, ZONES[p.zone])),
        // spread over zones
        2 => (r#"{"app":"spread"}"#.to_string(), r#","topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"topology.kubernetes.io/zone","whenUnsatisfiable":"DoNotSchedule","labelSelector":{"matchLabels":{"app":"spread"}}}]"#.to_string()),
        // one per node
        _ => (r#"{"app":"solo"}"#.to_string(), r#","affinity":{"podAntiAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"topologyKey":"kubernetes.io/hostname","labelSelector":{"matchLabels":{"app":"solo"}}}]}}"#.to_string()),
    };
    format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"p{i}","labels":{labels}}},"spec":{{"containers":[{{"name":"c","resources":{{"requests":{{"cpu":"{}m","memory":"{}Mi"}}}}}}]{extra}}}}}"#,
        p.cpu_m, p.mem_mi
    )
}

fn catalog_json(sizes: &[u32]) -> String {
    let types: Vec<String> = sizes
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let offers: Vec<String> = ZONES
                .iter()
                .map(|z| format!(r#"{{"zone":"{z}","capacityType":"on-demand","price":{}}}"#, 0.05 * f64::from(v) + 0.001 * i as f64))
                .collect();
            format!(
                r#"{{"name":"t{i}.x{v}","architecture":"amd64","vcpu":{v},"memoryMiB":{},"maxPods":{},"offerings":[{}]}}"#,
                v * 4096,
                10 + v * 4,
                offers.join(",")
            )
        })
        .collect();
    format!(
        r#"{{"region":"test","instanceTypes":[{}]}}"#,
        types.join(",")
    )
}

fn pods() -> impl Strategy<Value = Vec<PodSpec>> {
    prop::collection::vec(
        (50u32..3000, 64u32..6000, 0u8..4, 0usize..3).prop_map(|(cpu_m, mem_mi, kind, zone)| {
            PodSpec {
                cpu_m,
                mem_mi,
                kind,
                zone,
            }
        }),
        1..60,
    )
}

const POOL: &str = r#"{"apiVersion":"karpenter.sh/v1","kind":"NodePool","metadata":{"name":"default"},"spec":{"template":{"spec":{"requirements":[]}}}}"#;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_pod_once_and_no_hard_constraint_broken(
        pods in pods(),
        sizes in prop::collection::vec(prop_oneof![Just(1u32), Just(2), Just(4), Just(8), Just(16)], 1..5),
    ) {
        let mut docs = vec![POOL.to_string()];
        docs.extend(pods.iter().enumerate().map(|(i, p)| pod_doc(i, p)));
        let mut m = Manifests::default();
        m.add_file("input.yaml", &docs.join("\n---\n")).expect("generated input parses");
        let catalog = parse_catalog_json("catalog.json", &catalog_json(&sizes)).expect("generated catalog parses");
        let by_name: HashMap<String, _> = catalog.instance_types.iter().map(|t| (t.name.clone(), allocatable(t, &KubeletConfig::default()))).collect();
        let (solution, _) = provisioning::simulate(m, catalog, &[]).expect("simulation runs");

        // Every pod exactly once.
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for name in solution.claims.iter().flat_map(|c| c.pods.iter()).chain(solution.unschedulable.iter().map(|u| &u.pod)) {
            *seen.entry(name.clone()).or_default() += 1;
        }
        prop_assert_eq!(seen.len(), pods.len());
        prop_assert!(seen.values().all(|n| *n == 1));

        let spec_of = |name: &str| -> &PodSpec { &pods[name.trim_start_matches("default/p").parse::<usize>().expect("pod index")] };
        let mut spread_per_zone: BTreeMap<String, i64> = BTreeMap::new();
        for c in &solution.claims {
            prop_assert!(!c.instance_types.is_empty());
            let (cpu, mem): (i64, i64) = c.pods.iter().map(|p| spec_of(p)).fold((0, 0), |(a, b), p| (a + i64::from(p.cpu_m), b + (i64::from(p.mem_mi) << 20)));
            for t in &c.instance_types {
                let alloc = &by_name[t];
                prop_assert!(cpu <= alloc.fixed(CPU) && mem <= alloc.fixed(MEMORY), "{t} cannot hold {:?}", c.pods);
            }
            let solos = c.pods.iter().filter(|p| spec_of(p).kind == 3).count();
            prop_assert!(solos <= 1, "two anti-affine pods share a claim: {:?}", c.pods);
            for p in &c.pods {
                let s = spec_of(p);
                if s.kind == 1 {
                    prop_assert_eq!(&c.zones, &vec![ZONES[s.zone].to_string()]);
                }
                if s.kind == 2 {
                    prop_assert_eq!(c.zones.len(), 1, "a spread pod's claim is pinned to one zone");
                    *spread_per_zone.entry(c.zones[0].clone()).or_default() += 1;
                }
            }
        }
        let spread_unplaced = solution.unschedulable.iter().any(|u| spec_of(&u.pod).kind == 2);
        if !spread_unplaced && spread_per_zone.values().sum::<i64>() > 0 {
            let counts: Vec<i64> = ZONES.iter().map(|z| spread_per_zone.get(*z).copied().unwrap_or(0)).collect();
            let skew = counts.iter().max().unwrap_or(&0) - counts.iter().min().unwrap_or(&0);
            prop_assert!(skew <= 1, "zone skew {skew}: {counts:?}");
        }
    }
}
