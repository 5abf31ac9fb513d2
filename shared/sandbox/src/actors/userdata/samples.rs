//! User data as Karpenter writes it, for tests (unit and integration) to build on.

/// A `multipart/mixed` document (boundary `//`) of `parts`, each its headers, a blank line
/// and its body, ending in a newline.
pub fn mime(parts: &[&str]) -> String {
    let mut out =
        String::from("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"//\"\n\n");
    for part in parts {
        out.push_str("--//\n");
        out.push_str(part);
    }
    out.push_str("--//--\n");
    out
}

/// Karpenter's AL2023 MIME user data: its generated NodeConfig for `cluster` at `endpoint`
/// with `kubelet` (the YAML under `spec.kubelet`, indented four spaces, ending in a
/// newline), then each of `more_parts` (see [`mime`]).
pub fn karpenter_al2023(
    endpoint: &str,
    cluster: &str,
    kubelet: &str,
    more_parts: &[&str],
) -> String {
    let node_config = format!(
        r#"Content-Type: application/node.eks.aws

# Karpenter Generated NodeConfig
apiVersion: node.eks.aws/v1alpha1
kind: NodeConfig
metadata:
  creationTimestamp: null
spec:
  cluster:
    apiServerEndpoint: {endpoint}
    certificateAuthority: Y2EtYnVuZGxlCg==
    cidr: 10.100.0.0/16
    name: {cluster}
  containerd: {{}}
  instance:
    localStorage: {{}}
  kubelet:
{kubelet}
"#
    );
    let parts: Vec<&str> = std::iter::once(node_config.as_str())
        .chain(more_parts.iter().copied())
        .collect();
    mime(&parts)
}

/// Karpenter's AL2 bootstrap part (see [`mime`]): `/etc/eks/bootstrap.sh` for `cluster` at
/// `endpoint` with CA bundle `ca`, cluster DNS `dns_ip`, no ENI-based max pods, and
/// `kubelet_extra_args`.
pub fn karpenter_al2_bootstrap(
    endpoint: &str,
    cluster: &str,
    ca: &str,
    dns_ip: &str,
    kubelet_extra_args: &str,
) -> String {
    format!(
        r#"Content-Type: text/x-shellscript; charset="us-ascii"

#!/bin/bash -xe
exec > >(tee /var/log/user-data.log|logger -t user-data -s 2>/dev/console) 2>&1
/etc/eks/bootstrap.sh '{cluster}' --apiserver-endpoint '{endpoint}' --b64-cluster-ca '{ca}' \
--dns-cluster-ip '{dns_ip}' \
--use-max-pods false \
--container-runtime containerd \
--kubelet-extra-args '{kubelet_extra_args}'
"#
    )
}
