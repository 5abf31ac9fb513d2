//! The resource types the emulator serves: built-ins, and custom resources added when
//! their CustomResourceDefinition is created.
use serde_json::Value;

/// One served resource type at one version.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceDef {
    /// `""` for the core group.
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub status_subresource: bool,
    /// From a CRD (strategic-merge patch is refused on these, as on a real server).
    pub custom: bool,
    /// A CRD's `additionalPrinterColumns`, for the Table form.
    pub printer_columns: Vec<Value>,
    pub categories: Vec<String>,
}

impl ResourceDef {
    fn builtin(group: &str, version: &str, plural: &str, kind: &str, namespaced: bool) -> Self {
        Self {
            group: group.to_string(),
            version: version.to_string(),
            plural: plural.to_string(),
            singular: kind.to_lowercase(),
            kind: kind.to_string(),
            namespaced,
            short_names: Vec::new(),
            status_subresource: false,
            custom: false,
            printer_columns: Vec::new(),
            categories: Vec::new(),
        }
    }
    fn short(mut self, names: &[&str]) -> Self {
        self.short_names = names.iter().map(|s| s.to_string()).collect();
        self
    }
    fn with_status(mut self) -> Self {
        self.status_subresource = true;
        self
    }

    /// `v1` or `group/version`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `pods` or `nodepools.karpenter.sh`, as the API's messages name a resource.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The extra subresources served beside `status`.
    pub fn subresources(&self) -> &'static [(&'static str, &'static str, &'static str)] {
        // (subresource, group/version of its kind, kind)
        match (self.group.as_str(), self.plural.as_str()) {
            ("", "pods") => &[
                ("binding", "v1", "Binding"),
                ("eviction", "policy/v1", "Eviction"),
            ],
            ("apps", "deployments" | "replicasets" | "statefulsets") => {
                &[("scale", "autoscaling/v1", "Scale")]
            }
            _ => &[],
        }
    }

    /// The group whose storage holds this type's objects: `events.k8s.io/v1` Events are
    /// core/v1 Events (one storage, converted on the way in and out), as in kube-apiserver.
    pub fn storage_group(&self) -> &str {
        if self.is("events.k8s.io", "events") {
            ""
        } else {
            &self.group
        }
    }

    pub fn is(&self, group: &str, plural: &str) -> bool {
        self.group == group && self.plural == plural
    }
}

/// The built-in resource types.
pub fn builtins() -> Vec<ResourceDef> {
    use ResourceDef as R;
    vec![
        R::builtin("", "v1", "pods", "Pod", true)
            .short(&["po"])
            .with_status(),
        R::builtin("", "v1", "nodes", "Node", false)
            .short(&["no"])
            .with_status(),
        R::builtin("", "v1", "configmaps", "ConfigMap", true).short(&["cm"]),
        R::builtin("", "v1", "namespaces", "Namespace", false)
            .short(&["ns"])
            .with_status(),
        R::builtin("", "v1", "events", "Event", true).short(&["ev"]),
        R::builtin("", "v1", "serviceaccounts", "ServiceAccount", true).short(&["sa"]),
        R::builtin("", "v1", "secrets", "Secret", true),
        R::builtin("", "v1", "services", "Service", true)
            .short(&["svc"])
            .with_status(),
        R::builtin("apps", "v1", "deployments", "Deployment", true)
            .short(&["deploy"])
            .with_status(),
        R::builtin("apps", "v1", "replicasets", "ReplicaSet", true)
            .short(&["rs"])
            .with_status(),
        R::builtin("apps", "v1", "daemonsets", "DaemonSet", true)
            .short(&["ds"])
            .with_status(),
        R::builtin("apps", "v1", "statefulsets", "StatefulSet", true)
            .short(&["sts"])
            .with_status(),
        R::builtin(
            "policy",
            "v1",
            "poddisruptionbudgets",
            "PodDisruptionBudget",
            true,
        )
        .short(&["pdb"])
        .with_status(),
        R::builtin("coordination.k8s.io", "v1", "leases", "Lease", true),
        R::builtin("events.k8s.io", "v1", "events", "Event", true).short(&["ev"]),
        R::builtin(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            false,
        )
        .short(&["crd", "crds"])
        .with_status(),
    ]
}

/// The resource types a CRD serves, one per served version.
pub fn from_crd(crd: &Value) -> Vec<ResourceDef> {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let strings = |v: &Value| {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let Some(versions) = spec["versions"].as_array() else {
        return Vec::new();
    };
    versions
        .iter()
        .filter(|v| v["served"].as_bool().unwrap_or(true))
        .map(|v| ResourceDef {
            group: s(&spec["group"]),
            version: s(&v["name"]),
            plural: s(&names["plural"]),
            singular: names["singular"]
                .as_str()
                .map_or_else(|| s(&names["kind"]).to_lowercase(), String::from),
            kind: s(&names["kind"]),
            namespaced: spec["scope"].as_str() != Some("Cluster"),
            short_names: strings(&names["shortNames"]),
            status_subresource: v["subresources"]["status"].is_object(),
            custom: true,
            printer_columns: v["additionalPrinterColumns"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
            categories: strings(&names["categories"]),
        })
        .collect()
}
