//! AL2: a shell script calling `/etc/eks/bootstrap.sh`.

use super::kubelet::parse_kubelet_flags;
use super::{AmiFamily, KUBELET_DEFAULT_MAX_PODS, NodeBootstrap, invalid};
use crate::error::Result;

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
pub(super) fn arg_words(args: &str) -> Result<Vec<String>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::userdata::{parse, samples};

    /// Karpenter's AL2 output (a user script part, then Karpenter's bootstrap part).
    fn al2_mime() -> String {
        const USER_SCRIPT: &str = "Content-Type: text/x-shellscript; charset=\"us-ascii\"\n\n#!/bin/bash\necho \"Running custom user data script\"\n\n";
        let bootstrap = samples::karpenter_al2_bootstrap(
            "https://test-cluster",
            "test-cluster",
            "ca-bundle",
            "10.0.100.10",
            r#"--node-labels="karpenter.k8s.aws/ec2nodeclass=default,karpenter.sh/capacity-type=spot,karpenter.sh/nodepool=default" --register-with-taints="karpenter.sh/unregistered:NoExecute,gpu=true:NoSchedule"  --max-pods=58 --kube-reserved=cpu=70m,memory=574Mi --eviction-hard=memory.available<100Mi,nodefs.available<10%"#,
        );
        samples::mime(&[USER_SCRIPT, &bootstrap])
    }

    #[test]
    fn al2_bootstrap_sh_in_mime_reads_kubelet_extra_args() {
        let b = NodeBootstrap::parsed(&al2_mime());
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
        let b = NodeBootstrap::parsed(script);
        assert_eq!(b.cluster_name.as_deref(), Some("my-cluster"));
        assert_eq!(b.max_pods, Some(KUBELET_DEFAULT_MAX_PODS));
        assert_eq!(b.labels["a"], "b");
        // Default --use-max-pods true: the ENI-based number.
        let b = NodeBootstrap::parsed("#!/bin/bash\n/etc/eks/bootstrap.sh c; echo done\n");
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
}
