//! What a node's bootstrap reads from its EC2 user data: the cluster it joins, the labels
//! and taints kubelet registers with, its max pods and reservations. Pure functions, one
//! per AMI family as Karpenter (and users) write them:
//!
//! * AL2023: `nodeadm` `NodeConfig` documents (`apiVersion: node.eks.aws/v1alpha1`), in
//!   `application/node.eks.aws` parts of a MIME multipart document or bare YAML; several
//!   documents merge in order (later scalars win, lists append), as nodeadm merges them.
//!   `spec.kubelet.config` is a KubeletConfiguration fragment (`maxPods`, `kubeReserved`,
//!   `systemReserved`, `evictionHard`, `registerWithTaints`); `spec.kubelet.flags` are
//!   kubelet command-line flags, which win over the config (`--node-labels`,
//!   `--register-with-taints`, `--max-pods`, ...).
//! * AL2: a shell script (bare, or a `text/x-shellscript` MIME part) calling
//!   `/etc/eks/bootstrap.sh <cluster> [--opt value]...`; `--kubelet-extra-args` holds
//!   kubelet flags, `--use-max-pods false` drops the ENI-based max pods (kubelet's
//!   default of 110 then applies unless `--max-pods` is given).
//! * Bottlerocket: TOML `[settings.kubernetes]` with `cluster-name`, `max-pods`,
//!   `[settings.kubernetes.node-labels]`, `[settings.kubernetes.node-taints]` (values
//!   `"value:Effect"` or lists of them), `kube-reserved`, `system-reserved`,
//!   `eviction-hard`.
//!
//! [`node_restriction_violations`] says which labels the NodeRestriction admission plugin
//! (and kubelet's own `--node-labels` check) refuses a kubelet to set on itself.

use std::collections::BTreeMap;

use base64::Engine as _;
use k8s_openapi::api::core::v1::Taint;
use serde_json::Value;

use crate::error::{Error, Result};

/// kubelet's default `maxPods` when neither the config nor a flag sets one.
pub const KUBELET_DEFAULT_MAX_PODS: u32 = 110;

/// Which bootstrap the user data is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AmiFamily {
    /// Amazon Linux 2023 (`nodeadm`).
    Al2023,
    /// Amazon Linux 2 (`/etc/eks/bootstrap.sh`).
    Al2,
    /// Bottlerocket (TOML settings).
    Bottlerocket,
}

impl AmiFamily {
    /// The OS image a node of this family reports in `status.nodeInfo.osImage`.
    pub fn os_image(self) -> &'static str {
        match self {
            AmiFamily::Al2023 => "Amazon Linux 2023.6.20241121",
            AmiFamily::Al2 => "Amazon Linux 2",
            AmiFamily::Bottlerocket => "Bottlerocket OS 1.28.0 (aws-k8s-1.31)",
        }
    }

    /// The kernel a node of this family reports.
    pub fn kernel_version(self) -> &'static str {
        match self {
            AmiFamily::Al2023 => "6.1.115-126.197.amzn2023.x86_64",
            AmiFamily::Al2 => "5.10.228-219.884.amzn2.x86_64",
            AmiFamily::Bottlerocket => "6.1.115",
        }
    }

    /// The container runtime a node of this family reports.
    pub fn container_runtime(self) -> &'static str {
        match self {
            AmiFamily::Al2023 | AmiFamily::Al2 => "containerd://1.7.23",
            AmiFamily::Bottlerocket => "containerd://1.7.22+bottlerocket",
        }
    }
}

/// What kubelet on the node registers with, as the bootstrap derives it from user data.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeBootstrap {
    pub family: AmiFamily,
    /// The cluster the node joins (`None` if the user data does not say).
    pub cluster_name: Option<String>,
    /// `--node-labels` (or Bottlerocket `node-labels`).
    pub labels: BTreeMap<String, String>,
    /// `--register-with-taints` / `registerWithTaints` / Bottlerocket `node-taints`.
    pub taints: Vec<Taint>,
    /// Max pods; `None` means the AMI's ENI-based default for the instance type.
    pub max_pods: Option<u32>,
    /// `kubeReserved` (resource name -> quantity).
    pub kube_reserved: BTreeMap<String, String>,
    /// `systemReserved` (resource name -> quantity).
    pub system_reserved: BTreeMap<String, String>,
    /// `evictionHard` (signal, e.g. `memory.available` -> `100Mi` or `10%`).
    pub eviction_hard: BTreeMap<String, String>,
}

impl NodeBootstrap {
    fn new(family: AmiFamily) -> Self {
        Self {
            family,
            cluster_name: None,
            labels: BTreeMap::new(),
            taints: Vec::new(),
            max_pods: None,
            kube_reserved: BTreeMap::new(),
            system_reserved: BTreeMap::new(),
            eviction_hard: BTreeMap::new(),
        }
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::UserData(message.into())
}

/// Decodes the base64 user data EC2 returns (whitespace tolerated).
pub fn decode_base64(encoded: &str) -> Result<String> {
    let compact: String = encoded.split_whitespace().collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| invalid(format!("user data is not base64: {e}")))?;
    String::from_utf8(bytes).map_err(|e| invalid(format!("user data is not UTF-8: {e}")))
}

/// Parses decoded user data of any supported family. `Ok(None)`: nothing a bootstrap would
/// act on (no NodeConfig, no bootstrap.sh call, no Bottlerocket settings), so the node
/// would never join.
pub fn parse(user_data: &str) -> Result<Option<NodeBootstrap>> {
    let text = user_data.replace("\r\n", "\n");
    if let Some(parts) = mime_parts(&text)? {
        let nodeadm: Vec<&str> = parts
            .iter()
            .filter(|p| p.content_type == "application/node.eks.aws")
            .map(|p| p.body.as_str())
            .collect();
        if !nodeadm.is_empty() {
            return parse_nodeadm(&nodeadm).map(Some);
        }
        for part in &parts {
            if part.content_type.starts_with("text/x-shellscript") || part.content_type.is_empty() {
                if let Some(found) = parse_bootstrap_script(&part.body)? {
                    return Ok(Some(found));
                }
            }
        }
        return Ok(None);
    }
    if text.contains("/etc/eks/bootstrap.sh") {
        return parse_bootstrap_script(&text);
    }
    if looks_like_node_config(&text) {
        return parse_nodeadm(&[text.as_str()]).map(Some);
    }
    if let Ok(table) = text.parse::<toml::Table>() {
        if table.contains_key("settings") {
            return parse_bottlerocket(&text).map(Some);
        }
    }
    Ok(None)
}

fn looks_like_node_config(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim();
        l.starts_with("apiVersion:") && l.contains("node.eks.aws/")
    })
}

// ---------------------------------------------------------------------------------------
// MIME multipart

struct MimePart {
    /// Lower-case media type without parameters (`text/x-shellscript`); empty if absent.
    content_type: String,
    body: String,
}

/// The parts of a MIME multipart document, or `None` if `text` is not one.
fn mime_parts(text: &str) -> Result<Option<Vec<MimePart>>> {
    let (headers, body) = split_headers(text);
    let Some(content_type) = headers.get("content-type") else {
        return Ok(None);
    };
    if !content_type.to_ascii_lowercase().starts_with("multipart/") {
        return Ok(None);
    }
    let boundary = header_param(content_type, "boundary")
        .ok_or_else(|| invalid("multipart user data without a boundary"))?;
    let open = format!("--{boundary}");
    let close = format!("--{boundary}--");
    let mut parts = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in body.split('\n') {
        let trimmed = line.trim_end();
        if trimmed == close {
            break;
        }
        if trimmed == open {
            if let Some(lines) = current.take() {
                parts.extend(mime_part(&lines.join("\n"))?);
            }
            current = Some(Vec::new());
            continue;
        }
        if let Some(lines) = current.as_mut() {
            lines.push(line);
        }
    }
    if let Some(lines) = current.take() {
        parts.extend(mime_part(&lines.join("\n"))?);
    }
    Ok(Some(parts))
}

fn mime_part(raw: &str) -> Result<Vec<MimePart>> {
    let (headers, body) = split_headers(raw);
    let full_type = headers.get("content-type").cloned().unwrap_or_default();
    let content_type = full_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let encoding = headers
        .get("content-transfer-encoding")
        .map(|e| e.trim().to_ascii_lowercase());
    let body = if encoding.as_deref() == Some("base64") {
        decode_base64(body)?
    } else {
        body.to_owned()
    };
    if content_type.starts_with("multipart/") {
        let nested = format!("Content-Type: {full_type}\n\n{body}");
        return Ok(mime_parts(&nested)?.unwrap_or_default());
    }
    Ok(vec![MimePart { content_type, body }])
}

/// RFC 822-style headers (lower-case names; continuation lines joined) up to the first
/// blank line, and the rest. Text that does not start with a header has none.
fn split_headers(text: &str) -> (BTreeMap<String, String>, &str) {
    let mut headers = BTreeMap::new();
    let mut last: Option<String> = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let content = line.trim_end_matches('\n').trim_end_matches('\r');
        if content.trim().is_empty() {
            offset += line.len();
            return (headers, &text[offset..]);
        }
        if content.starts_with([' ', '\t']) {
            if let Some(value) = last.as_ref().and_then(|name| headers.get_mut(name)) {
                let value: &mut String = value;
                value.push(' ');
                value.push_str(content.trim());
                offset += line.len();
                continue;
            }
        }
        let Some((name, value)) = content.split_once(':') else {
            return (BTreeMap::new(), text);
        };
        if name.is_empty() || name.contains(char::is_whitespace) {
            return (BTreeMap::new(), text);
        }
        let name = name.to_ascii_lowercase();
        headers.insert(name.clone(), value.trim().to_owned());
        last = Some(name);
        offset += line.len();
    }
    (headers, "")
}

/// A `; name=value` parameter of a header, unquoted.
fn header_param(header: &str, name: &str) -> Option<String> {
    header.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim().trim_matches('"').to_owned())
    })
}

// ---------------------------------------------------------------------------------------
// AL2023: nodeadm NodeConfig

/// Merges the NodeConfig documents in `parts` (each may hold several YAML documents) and
/// reads what kubelet registers with.
pub fn parse_nodeadm(parts: &[&str]) -> Result<NodeBootstrap> {
    use serde::Deserialize as _;
    let mut merged = Value::Null;
    let mut found = false;
    for part in parts {
        for document in serde_yaml_ng::Deserializer::from_str(part) {
            let doc = Value::deserialize(document)
                .map_err(|e| invalid(format!("NodeConfig is not valid YAML: {e}")))?;
            if doc.is_null() {
                continue;
            }
            let kind = doc.get("kind").and_then(Value::as_str);
            let api_version = doc.get("apiVersion").and_then(Value::as_str);
            if kind != Some("NodeConfig")
                || !api_version.is_some_and(|v| v.starts_with("node.eks.aws/"))
            {
                return Err(invalid(format!(
                    "nodeadm accepts only node.eks.aws NodeConfig documents, got \
                     apiVersion {api_version:?} kind {kind:?}"
                )));
            }
            merge_nodeadm(&mut merged, doc);
            found = true;
        }
    }
    if !found {
        return Err(invalid(
            "no NodeConfig in the application/node.eks.aws parts",
        ));
    }
    let mut out = NodeBootstrap::new(AmiFamily::Al2023);
    let spec = &merged["spec"];
    out.cluster_name = spec["cluster"]["name"].as_str().map(str::to_owned);
    let config = &spec["kubelet"]["config"];
    if let Some(max) = config.get("maxPods") {
        out.max_pods = Some(
            max.as_u64()
                .and_then(|m| u32::try_from(m).ok())
                .ok_or_else(|| invalid(format!("kubelet config maxPods {max} is not a count")))?,
        );
    }
    out.kube_reserved = string_map(&config["kubeReserved"], "kubeReserved")?;
    out.system_reserved = string_map(&config["systemReserved"], "systemReserved")?;
    out.eviction_hard = string_map(&config["evictionHard"], "evictionHard")?;
    if let Some(taints) = config.get("registerWithTaints") {
        let taints: Vec<Taint> = serde_json::from_value(taints.clone())
            .map_err(|e| invalid(format!("kubelet config registerWithTaints: {e}")))?;
        for taint in &taints {
            check_effect(&taint.effect)?;
        }
        out.taints = taints;
    }
    let mut args = Vec::new();
    if let Some(flags) = spec["kubelet"]["flags"].as_array() {
        for flag in flags {
            let flag = flag
                .as_str()
                .ok_or_else(|| invalid(format!("kubelet flag {flag} is not a string")))?;
            args.extend(arg_words(flag)?);
        }
    }
    parse_kubelet_flags(&args)?.apply(&mut out);
    Ok(out)
}

/// nodeadm's merge: objects merge key by key, later scalars win, lists append.
fn merge_nodeadm(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge_nodeadm(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (Value::Array(a), Value::Array(b)) => a.extend(b),
        (slot, v) => *slot = v,
    }
}

fn string_map(v: &Value, what: &str) -> Result<BTreeMap<String, String>> {
    match v {
        Value::Null => Ok(BTreeMap::new()),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                Value::Number(n) => Ok((k.clone(), n.to_string())),
                other => Err(invalid(format!("{what}.{k}: {other} is not a quantity"))),
            })
            .collect(),
        other => Err(invalid(format!("{what}: {other} is not a map"))),
    }
}

// ---------------------------------------------------------------------------------------
// kubelet flags (shared by nodeadm flags and bootstrap.sh --kubelet-extra-args)

#[derive(Debug, Default)]
struct KubeletFlags {
    labels: Option<BTreeMap<String, String>>,
    taints: Option<Vec<Taint>>,
    max_pods: Option<u32>,
    kube_reserved: Option<BTreeMap<String, String>>,
    system_reserved: Option<BTreeMap<String, String>>,
    eviction_hard: Option<BTreeMap<String, String>>,
}

impl KubeletFlags {
    /// Flags win over config-file values.
    fn apply(self, out: &mut NodeBootstrap) {
        if let Some(labels) = self.labels {
            out.labels.extend(labels);
        }
        if let Some(taints) = self.taints {
            out.taints = taints;
        }
        if let Some(max) = self.max_pods {
            out.max_pods = Some(max);
        }
        if let Some(r) = self.kube_reserved {
            out.kube_reserved = r;
        }
        if let Some(r) = self.system_reserved {
            out.system_reserved = r;
        }
        if let Some(e) = self.eviction_hard {
            out.eviction_hard = e;
        }
    }
}

/// The kubelet flags we read, from already-split arguments (`--flag=value` or
/// `--flag value`); others are ignored.
fn parse_kubelet_flags(args: &[String]) -> Result<KubeletFlags> {
    const WITH_VALUE: [&str; 6] = [
        "node-labels",
        "register-with-taints",
        "max-pods",
        "kube-reserved",
        "system-reserved",
        "eviction-hard",
    ];
    let mut flags = KubeletFlags::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            continue;
        };
        let (name, value) = match flag.split_once('=') {
            Some((n, v)) => (n, v.to_owned()),
            None if WITH_VALUE.contains(&flag) => {
                let Some(v) = args.get(i) else {
                    return Err(invalid(format!("kubelet flag --{flag} has no value")));
                };
                i += 1;
                (flag, v.clone())
            }
            None => continue,
        };
        match name {
            "node-labels" => {
                // A map flag: repeated flags add to the same map.
                let labels = flags.labels.get_or_insert_with(BTreeMap::new);
                labels.extend(parse_pairs(&value, '=', "--node-labels")?);
            }
            "register-with-taints" => flags.taints = Some(parse_taints(&value)?),
            "max-pods" => {
                flags.max_pods = Some(
                    value
                        .trim()
                        .parse()
                        .map_err(|e| invalid(format!("kubelet flag --max-pods={value}: {e}")))?,
                );
            }
            "kube-reserved" => {
                flags.kube_reserved = Some(parse_pairs(&value, '=', "--kube-reserved")?);
            }
            "system-reserved" => {
                flags.system_reserved = Some(parse_pairs(&value, '=', "--system-reserved")?);
            }
            "eviction-hard" => {
                flags.eviction_hard = Some(parse_pairs(&value, '<', "--eviction-hard")?);
            }
            _ => {}
        }
    }
    Ok(flags)
}

/// `k=v,k2=v2` (kubelet's map flags; `sep` is `<` for `--eviction-hard`).
fn parse_pairs(value: &str, sep: char, flag: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once(sep)
            .ok_or_else(|| invalid(format!("{flag}: malformed pair {pair:?} (want k{sep}v)")))?;
        out.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    Ok(out)
}

/// `key=value:Effect,key2:Effect` (kubelet's `--register-with-taints`).
pub fn parse_taints(value: &str) -> Result<Vec<Taint>> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|spec| {
            let (kv, effect) = spec.rsplit_once(':').ok_or_else(|| {
                invalid(format!(
                    "invalid taint spec {spec:?}: no effect (key=value:Effect)"
                ))
            })?;
            let (key, value) = match kv.split_once('=') {
                Some((k, v)) => (k, Some(v.to_owned())),
                None => (kv, None),
            };
            taint(key, value, effect)
        })
        .collect()
}

fn taint(key: &str, value: Option<String>, effect: &str) -> Result<Taint> {
    if key.is_empty() {
        return Err(invalid("a taint needs a key"));
    }
    check_effect(effect)?;
    Ok(Taint {
        key: key.to_owned(),
        value: value.filter(|v| !v.is_empty()),
        effect: effect.to_owned(),
        time_added: None,
    })
}

fn check_effect(effect: &str) -> Result<()> {
    match effect {
        "NoSchedule" | "PreferNoSchedule" | "NoExecute" => Ok(()),
        other => Err(invalid(format!(
            "invalid taint effect {other:?} (NoSchedule, PreferNoSchedule or NoExecute)"
        ))),
    }
}

// ---------------------------------------------------------------------------------------
// AL2: /etc/eks/bootstrap.sh

/// Finds the `/etc/eks/bootstrap.sh` call in a shell script and reads its arguments.
/// `Ok(None)` if the script never calls it.
pub fn parse_bootstrap_script(script: &str) -> Result<Option<NodeBootstrap>> {
    let joined = script.replace("\\\n", " ");
    let Some(line) = joined
        .lines()
        .map(str::trim_start)
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.contains("/etc/eks/bootstrap.sh"))
    else {
        return Ok(None);
    };
    let start = line.find("/etc/eks/bootstrap.sh").unwrap_or_default();
    let words = shell_words(&line[start..])?;
    let mut out = NodeBootstrap::new(AmiFamily::Al2);
    let mut use_max_pods = true;
    let mut extra_args = Vec::new();
    let mut i = 1;
    while i < words.len() {
        let word = &words[i];
        i += 1;
        if let Some(option) = word.strip_prefix("--") {
            let (name, value) = match option.split_once('=') {
                Some((n, v)) => (n, v.to_owned()),
                None => {
                    let value = words.get(i).cloned().ok_or_else(|| {
                        invalid(format!("bootstrap.sh option --{option} has no value"))
                    })?;
                    i += 1;
                    (option, value)
                }
            };
            match name {
                "kubelet-extra-args" => extra_args.extend(arg_words(&value)?),
                "use-max-pods" => use_max_pods = value.trim() != "false",
                _ => {}
            }
        } else if out.cluster_name.is_none() {
            out.cluster_name = Some(word.clone());
        }
    }
    if !use_max_pods {
        out.max_pods = Some(KUBELET_DEFAULT_MAX_PODS);
    }
    parse_kubelet_flags(&extra_args)?.apply(&mut out);
    Ok(Some(out))
}

/// Splits a command line as a POSIX shell would (quotes, backslash escapes), stopping at
/// an unquoted control operator (`;`, `&`, `|`, `<`, `>`), newline or comment.
pub fn shell_words(line: &str) -> Result<Vec<String>> {
    split_words(line, true)
}

/// Splits an argument string (kubelet flags from `--kubelet-extra-args` or nodeadm's
/// `flags`) with shell quoting; `<`, `>`, `|`, `;`, `&` are ordinary characters there.
fn arg_words(args: &str) -> Result<Vec<String>> {
    split_words(args, false)
}

fn split_words(line: &str, command: bool) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => word.push(ch),
                        None => return Err(invalid(format!("unterminated ' in {line:?}"))),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\' | '$' | '`')) => word.push(ch),
                            Some('\n') => {}
                            Some(ch) => {
                                word.push('\\');
                                word.push(ch);
                            }
                            None => return Err(invalid(format!("unterminated \" in {line:?}"))),
                        },
                        Some(ch) => word.push(ch),
                        None => return Err(invalid(format!("unterminated \" in {line:?}"))),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') | None => {}
                Some(ch) => {
                    in_word = true;
                    word.push(ch);
                }
            },
            ';' | '&' | '|' | '<' | '>' | '\n' if command => break,
            '#' if command && !in_word => break,
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

// ---------------------------------------------------------------------------------------
// Bottlerocket: TOML settings

/// Reads Bottlerocket's `settings.kubernetes`.
pub fn parse_bottlerocket(text: &str) -> Result<NodeBootstrap> {
    let table: toml::Table = text
        .parse()
        .map_err(|e| invalid(format!("Bottlerocket user data is not TOML: {e}")))?;
    let mut out = NodeBootstrap::new(AmiFamily::Bottlerocket);
    let Some(k8s) = table
        .get("settings")
        .and_then(|s| s.get("kubernetes"))
        .and_then(toml::Value::as_table)
    else {
        return Ok(out);
    };
    out.cluster_name = k8s
        .get("cluster-name")
        .and_then(toml::Value::as_str)
        .map(str::to_owned);
    if let Some(max) = k8s.get("max-pods") {
        out.max_pods = Some(
            max.as_integer()
                .and_then(|m| u32::try_from(m).ok())
                .ok_or_else(|| {
                    invalid(format!(
                        "settings.kubernetes.max-pods {max:?} is not a count"
                    ))
                })?,
        );
    }
    out.labels = toml_string_map(k8s.get("node-labels"), "node-labels")?;
    out.kube_reserved = toml_string_map(k8s.get("kube-reserved"), "kube-reserved")?;
    out.system_reserved = toml_string_map(k8s.get("system-reserved"), "system-reserved")?;
    out.eviction_hard = toml_string_map(k8s.get("eviction-hard"), "eviction-hard")?;
    if let Some(taints) = k8s.get("node-taints") {
        let taints = taints
            .as_table()
            .ok_or_else(|| invalid("settings.kubernetes.node-taints is not a table"))?;
        for (key, specs) in taints {
            let specs: Vec<&str> = match specs {
                toml::Value::String(s) => s.split(',').collect(),
                toml::Value::Array(items) => items
                    .iter()
                    .map(|v| {
                        v.as_str().ok_or_else(|| {
                            invalid(format!("node-taints.{key}: {v:?} is not a string"))
                        })
                    })
                    .collect::<Result<_>>()?,
                other => {
                    return Err(invalid(format!(
                        "node-taints.{key}: {other:?} is not a string or list"
                    )));
                }
            };
            for spec in specs {
                let (value, effect) = spec.trim().rsplit_once(':').ok_or_else(|| {
                    invalid(format!("node-taints.{key}: {spec:?} is not value:Effect"))
                })?;
                out.taints.push(taint(key, Some(value.to_owned()), effect)?);
            }
        }
    }
    Ok(out)
}

fn toml_string_map(v: Option<&toml::Value>, what: &str) -> Result<BTreeMap<String, String>> {
    let Some(v) = v else {
        return Ok(BTreeMap::new());
    };
    let table = v
        .as_table()
        .ok_or_else(|| invalid(format!("settings.kubernetes.{what} is not a table")))?;
    table
        .iter()
        .map(|(k, v)| match v {
            toml::Value::String(s) => Ok((k.clone(), s.clone())),
            toml::Value::Integer(i) => Ok((k.clone(), i.to_string())),
            toml::Value::Boolean(b) => Ok((k.clone(), b.to_string())),
            other => Err(invalid(format!("{what}.{k}: {other:?} is not a string"))),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// NodeRestriction

/// Labels kubelet may set on its own Node whatever their namespace.
const KUBELET_LABELS: [&str; 12] = [
    "kubernetes.io/hostname",
    "kubernetes.io/arch",
    "kubernetes.io/os",
    "beta.kubernetes.io/arch",
    "beta.kubernetes.io/os",
    "beta.kubernetes.io/instance-type",
    "node.kubernetes.io/instance-type",
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/region",
    "node.kubernetes.io/windows-build",
];
/// Label namespaces (and their subdomains) kubelet may set.
const KUBELET_NAMESPACES: [&str; 2] = ["kubelet.kubernetes.io", "node.kubernetes.io"];

/// Whether kubelet may set `key` on its own Node (kubelet's `IsKubeletLabel`).
pub fn is_kubelet_label(key: &str) -> bool {
    if KUBELET_LABELS.contains(&key) {
        return true;
    }
    let namespace = label_namespace(key);
    KUBELET_NAMESPACES
        .iter()
        .any(|ns| namespace == *ns || namespace.ends_with(&format!(".{ns}")))
}

fn label_namespace(key: &str) -> &str {
    key.split_once('/').map_or("", |(prefix, _)| prefix)
}

fn in_namespace(namespace: &str, domain: &str) -> bool {
    namespace == domain || namespace.ends_with(&format!(".{domain}"))
}

/// The labels a kubelet may not set on itself, sorted: those in the `kubernetes.io` or
/// `k8s.io` namespaces (or their subdomains) that are not kubelet labels, which include
/// everything under `node-restriction.kubernetes.io/`. kubelet refuses to start with such
/// `--node-labels` and the NodeRestriction admission plugin refuses the Node, so the node
/// never joins.
pub fn node_restriction_violations(labels: &BTreeMap<String, String>) -> Vec<String> {
    labels
        .keys()
        .filter(|key| {
            let ns = label_namespace(key);
            (in_namespace(ns, "kubernetes.io") || in_namespace(ns, "k8s.io"))
                && !is_kubelet_label(key)
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Karpenter's AL2023 output (its own NodeConfig first, the user's after, then a
    /// user shell script), as in aws/karpenter-provider-aws's launch template goldens.
    const AL2023_MIME: &str = r#"MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="//"

--//
Content-Type: application/node.eks.aws

# Karpenter Generated NodeConfig
apiVersion: node.eks.aws/v1alpha1
kind: NodeConfig
metadata:
  creationTimestamp: null
spec:
  cluster:
    apiServerEndpoint: https://test-cluster
    certificateAuthority: Y2EtYnVuZGxlCg==
    cidr: 10.100.0.0/16
    name: test-cluster
  containerd: {}
  instance:
    localStorage: {}
  kubelet:
    config:
      clusterDNS:
      - 10.0.100.10
      maxPods: 110
      kubeReserved:
        cpu: 80m
        memory: 893Mi
      evictionHard:
        memory.available: 5%
      registerWithTaints:
      - effect: NoExecute
        key: karpenter.sh/unregistered
    flags:
    - --node-labels="karpenter.k8s.aws/ec2nodeclass=default,karpenter.sh/capacity-type=on-demand,karpenter.sh/nodepool=default,team=a"
    - --register-with-taints="karpenter.sh/unregistered:NoExecute,dedicated=gpu:NoSchedule"

--//
Content-Type: application/node.eks.aws

apiVersion: node.eks.aws/v1alpha1
kind: NodeConfig
spec:
  kubelet:
    config:
      maxPods: 42
--//
Content-Type: text/x-shellscript; charset="us-ascii"

#!/bin/bash
echo "Hello, AL2023!"
--//--
"#;

    #[test]
    fn al2023_nodeadm_mime_merges_documents_and_reads_flags() {
        let b = parse(AL2023_MIME).expect("parse").expect("a NodeConfig");
        assert_eq!(b.family, AmiFamily::Al2023);
        assert_eq!(b.cluster_name.as_deref(), Some("test-cluster"));
        assert_eq!(b.max_pods, Some(42), "the later document wins");
        assert_eq!(b.labels.len(), 4);
        assert_eq!(b.labels["karpenter.sh/nodepool"], "default");
        assert_eq!(b.labels["team"], "a");
        let taints: Vec<(&str, Option<&str>, &str)> = b
            .taints
            .iter()
            .map(|t| (t.key.as_str(), t.value.as_deref(), t.effect.as_str()))
            .collect();
        assert_eq!(
            taints,
            [
                ("karpenter.sh/unregistered", None, "NoExecute"),
                ("dedicated", Some("gpu"), "NoSchedule")
            ]
        );
        assert_eq!(b.kube_reserved["memory"], "893Mi");
        assert_eq!(b.eviction_hard["memory.available"], "5%");
    }

    #[test]
    fn al2023_bare_node_config_and_flag_over_config() {
        let yaml = "---\napiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  cluster:\n    name: c1\n  kubelet:\n    config:\n      maxPods: 50\n      registerWithTaints:\n      - key: a\n        value: b\n        effect: NoSchedule\n    flags:\n      - --max-pods=17\n      - --node-labels=x=1\n      - --node-labels=y=2\n";
        let b = parse(yaml).expect("parse").expect("NodeConfig");
        assert_eq!(b.family, AmiFamily::Al2023);
        assert_eq!(b.cluster_name.as_deref(), Some("c1"));
        assert_eq!(b.max_pods, Some(17), "the flag wins over the config file");
        assert_eq!(b.labels.len(), 2, "repeated --node-labels add up");
        assert_eq!(b.taints.len(), 1);
        assert_eq!(b.taints[0].value.as_deref(), Some("b"));
    }

    #[test]
    fn al2023_without_max_pods_uses_the_eni_default_and_mime_base64_parts() {
        let config = "apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  cluster:\n    name: c2\n";
        let encoded = base64::engine::general_purpose::STANDARD.encode(config);
        let mime = format!(
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BOUNDARY\r\n\r\n--BOUNDARY\r\nContent-Type: application/node.eks.aws\r\nContent-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--BOUNDARY--\r\n"
        );
        let b = parse(&mime).expect("parse").expect("NodeConfig");
        assert_eq!(b.cluster_name.as_deref(), Some("c2"));
        assert_eq!(b.max_pods, None);
        assert!(b.labels.is_empty() && b.taints.is_empty());
    }

    #[test]
    fn al2023_rejects_other_kinds_and_bad_effects() {
        let other = "apiVersion: node.eks.aws/v1alpha1\nkind: Pod\n";
        assert!(parse_nodeadm(&[other]).is_err());
        let bad = "apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  kubelet:\n    flags: ['--register-with-taints=a=b:Sometimes']\n";
        let err = parse_nodeadm(&[bad]).expect_err("bad effect");
        assert!(err.to_string().contains("Sometimes"), "{err}");
    }

    /// Karpenter's AL2 output (a user script part, then Karpenter's bootstrap part).
    const AL2_MIME: &str = r#"MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="//"

--//
Content-Type: text/x-shellscript; charset="us-ascii"

#!/bin/bash
echo "Running custom user data script"

--//
Content-Type: text/x-shellscript; charset="us-ascii"

#!/bin/bash -xe
exec > >(tee /var/log/user-data.log|logger -t user-data -s 2>/dev/console) 2>&1
/etc/eks/bootstrap.sh 'test-cluster' --apiserver-endpoint 'https://test-cluster' --b64-cluster-ca 'ca-bundle' \
--dns-cluster-ip '10.0.100.10' \
--use-max-pods false \
--container-runtime containerd \
--kubelet-extra-args '--node-labels="karpenter.k8s.aws/ec2nodeclass=default,karpenter.sh/capacity-type=spot,karpenter.sh/nodepool=default" --register-with-taints="karpenter.sh/unregistered:NoExecute,gpu=true:NoSchedule"  --max-pods=58 --kube-reserved=cpu=70m,memory=574Mi --eviction-hard=memory.available<100Mi,nodefs.available<10%'
--//--
"#;

    #[test]
    fn al2_bootstrap_sh_in_mime_reads_kubelet_extra_args() {
        let b = parse(AL2_MIME).expect("parse").expect("bootstrap");
        assert_eq!(b.family, AmiFamily::Al2);
        assert_eq!(b.cluster_name.as_deref(), Some("test-cluster"));
        assert_eq!(b.max_pods, Some(58));
        assert_eq!(b.labels["karpenter.sh/capacity-type"], "spot");
        assert_eq!(b.labels.len(), 3);
        assert_eq!(b.taints.len(), 2);
        assert_eq!(b.taints[1].key, "gpu");
        assert_eq!(b.taints[1].value.as_deref(), Some("true"));
        assert_eq!(b.taints[1].effect, "NoSchedule");
        assert_eq!(b.kube_reserved["cpu"], "70m");
        assert_eq!(b.eviction_hard["nodefs.available"], "10%");
    }

    #[test]
    fn al2_bare_script_and_max_pods_defaults() {
        // --use-max-pods false without --max-pods: kubelet's own default.
        let script = "#!/bin/bash\nset -ex\n/etc/eks/bootstrap.sh my-cluster --use-max-pods false --kubelet-extra-args \"--node-labels=a=b\"\n";
        let b = parse(script).expect("parse").expect("bootstrap");
        assert_eq!(b.cluster_name.as_deref(), Some("my-cluster"));
        assert_eq!(b.max_pods, Some(KUBELET_DEFAULT_MAX_PODS));
        assert_eq!(b.labels["a"], "b");
        // Default --use-max-pods true: the ENI-based number.
        let b = parse("#!/bin/bash\n/etc/eks/bootstrap.sh c; echo done\n")
            .expect("parse")
            .expect("bootstrap");
        assert_eq!(b.max_pods, None);
        assert_eq!(b.cluster_name.as_deref(), Some("c"));
        // A script that never bootstraps does not join.
        assert_eq!(parse("#!/bin/bash\necho hi\n").expect("parse"), None);
    }

    #[test]
    fn shell_words_follow_posix_quoting() {
        let words = shell_words(r#"a 'b c' "d \"e\" $x" f\ g h#i # comment"#).expect("words");
        assert_eq!(words, ["a", "b c", "d \"e\" $x", "f g", "h#i"]);
        assert_eq!(shell_words("x; y").expect("words"), ["x"]);
        assert!(shell_words("'open").is_err());
    }

    /// Karpenter's Bottlerocket output (merged with a user's settings).
    const BOTTLEROCKET: &str = r#"[settings]
[settings.kubernetes]
api-server = 'https://test-cluster'
cloud-provider = 'external'
cluster-certificate = 'ca-bundle'
cluster-name = 'test-cluster'
cluster-dns-ip = '10.0.100.10'
max-pods = 110

[settings.kubernetes.node-labels]
custom-node-label = 'custom'
'karpenter.k8s.aws/ec2nodeclass' = 'default'
'karpenter.sh/capacity-type' = 'on-demand'
'karpenter.sh/nodepool' = 'default'

[settings.kubernetes.node-taints]
baz = ['bin:NoExecute']
foo = ['bar:NoExecute', 'qux:NoSchedule']
'karpenter.sh/unregistered' = [':NoExecute']
single = 'one:PreferNoSchedule'

[settings.kubernetes.eviction-hard]
'memory.available' = '12%'

[settings.kubernetes.kube-reserved]
cpu = '100m'

[settings.network]
hostname = 'test.local'
no-proxy = ['localhost', '127.0.0.1']
"#;

    #[test]
    fn bottlerocket_toml_reads_labels_taints_and_max_pods() {
        let b = parse(BOTTLEROCKET).expect("parse").expect("settings");
        assert_eq!(b.family, AmiFamily::Bottlerocket);
        assert_eq!(b.cluster_name.as_deref(), Some("test-cluster"));
        assert_eq!(b.max_pods, Some(110));
        assert_eq!(b.labels.len(), 4);
        assert_eq!(b.labels["custom-node-label"], "custom");
        let taints: Vec<(&str, Option<&str>, &str)> = b
            .taints
            .iter()
            .map(|t| (t.key.as_str(), t.value.as_deref(), t.effect.as_str()))
            .collect();
        assert_eq!(
            taints,
            [
                ("baz", Some("bin"), "NoExecute"),
                ("foo", Some("bar"), "NoExecute"),
                ("foo", Some("qux"), "NoSchedule"),
                ("karpenter.sh/unregistered", None, "NoExecute"),
                ("single", Some("one"), "PreferNoSchedule"),
            ]
        );
        assert_eq!(b.eviction_hard["memory.available"], "12%");
        assert_eq!(b.kube_reserved["cpu"], "100m");
        // Without max-pods Bottlerocket computes the ENI default.
        let b = parse("[settings.kubernetes]\ncluster-name = \"x\"\n")
            .expect("parse")
            .expect("settings");
        assert_eq!(b.max_pods, None);
        assert!(parse_bottlerocket("[settings.kubernetes.node-taints]\na = 'nocolon'\n").is_err());
    }

    #[test]
    fn unknown_user_data_joins_nothing() {
        assert_eq!(parse("").expect("empty"), None);
        assert_eq!(parse("hello world").expect("text"), None);
        assert_eq!(parse("[other]\nx = 1\n").expect("toml"), None);
    }

    #[test]
    fn decodes_base64_with_line_breaks() {
        let encoded = base64::engine::general_purpose::STANDARD.encode("#!/bin/bash\n");
        let wrapped = format!("{}\n{}", &encoded[..4], &encoded[4..]);
        assert_eq!(decode_base64(&wrapped).expect("decode"), "#!/bin/bash\n");
        assert!(decode_base64("***").is_err());
    }

    #[test]
    fn node_restriction_allows_kubelet_labels_only() {
        let labels: BTreeMap<String, String> = [
            "team",
            "karpenter.sh/nodepool",
            "example.com/x",
            "kubernetes.io/hostname",
            "kubernetes.io/arch",
            "node.kubernetes.io/instance-type",
            "node.kubernetes.io/custom",
            "sub.node.kubernetes.io/custom",
            "kubelet.kubernetes.io/foo",
            "topology.kubernetes.io/zone",
            "failure-domain.beta.kubernetes.io/region",
            "beta.kubernetes.io/os",
            // Forbidden:
            "kubernetes.io/role",
            "node-role.kubernetes.io/worker",
            "node-restriction.kubernetes.io/trusted",
            "topology.kubernetes.io/rack",
            "beta.kubernetes.io/fluentd",
            "example.k8s.io/thing",
            "k8s.io/thing",
        ]
        .iter()
        .map(|k| ((*k).to_owned(), "v".to_owned()))
        .collect();
        assert_eq!(
            node_restriction_violations(&labels),
            [
                "beta.kubernetes.io/fluentd",
                "example.k8s.io/thing",
                "k8s.io/thing",
                "kubernetes.io/role",
                "node-restriction.kubernetes.io/trusted",
                "node-role.kubernetes.io/worker",
                "topology.kubernetes.io/rack",
            ]
        );
    }
}
