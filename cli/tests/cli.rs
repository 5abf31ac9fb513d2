//! The CLI's one integration-test harness: the `nodeless` binary run as a child process.

#[cfg(feature = "sandbox")]
mod sandbox_up {
    use std::io::{BufRead, BufReader};
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    /// Kills the child if the test fails half-way.
    struct Guard(Child);

    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("nodeless-cli-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    /// EKS DescribeCluster over raw HTTP (moto checks no signature; it routes by the
    /// credential scope).
    fn describe_cluster(moto: &str, name: &str) -> String {
        use std::io::{Read, Write};
        let authority = moto.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(authority).expect("connect to moto");
        write!(
            stream,
            "GET /clusters/{name} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/eks/aws4_request, \
             SignedHeaders=host, Signature=0\r\n\r\n"
        )
        .expect("write");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("read");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        answer
    }

    #[test]
    fn sandbox_up_serves_kubectl_and_stops_on_sigint() {
        let dir = temp_dir("sandbox-up");
        let kubeconfig = dir.join("kubeconfig");
        let child = Command::new(env!("CARGO_BIN_EXE_nodeless"))
            .args([
                "sandbox",
                "up",
                "--cluster-name",
                "cli-test",
                "--kubeconfig",
            ])
            .arg(&kubeconfig)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn nodeless sandbox up");
        let mut guard = Guard(child);
        let stdout = guard.0.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });

        // Up to the kubeconfig line (moto's start included: the venv must exist).
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut printed = Vec::new();
        let path = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).unwrap_or_else(|e| {
                panic!("no kubeconfig line ({e}); stdout so far: {printed:#?}")
            });
            printed.push(line.clone());
            if let Some(path) = line.trim_start().strip_prefix("kubeconfig:") {
                break PathBuf::from(path.trim());
            }
        };
        assert_eq!(path, kubeconfig);
        let text = printed.join("\n");
        for expected in [
            "nodeless sandbox up in ",
            "cluster:     cli-test",
            "account:     123456789012",
            "region:      us-east-1",
            "moto:        http://127.0.0.1:",
            "kubernetes:  https://127.0.0.1:",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        eprintln!("{}", printed[0]);

        let kubectl = |args: &[&str]| {
            let out = Command::new("kubectl")
                .arg("--kubeconfig")
                .arg(&path)
                .args(args)
                .output()
                .expect("kubectl runs (is it installed?)");
            assert!(
                out.status.success(),
                "kubectl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        kubectl(&["get", "nodes"]);
        // EKS DescribeCluster (on moto) points at the emulator, as the functions read it.
        let field = |name: &str| {
            printed
                .iter()
                .find_map(|l| l.trim_start().strip_prefix(name))
                .map(|v| v.trim().to_owned())
                .unwrap_or_else(|| panic!("no {name} line"))
        };
        let cluster = describe_cluster(&field("moto:"), "cli-test");
        let kube_url = field("kubernetes:");
        assert!(cluster.contains(&kube_url), "DescribeCluster: {cluster}");
        let namespaces = kubectl(&["get", "namespaces", "-o", "name"]);
        assert!(namespaces.contains("namespace/kube-system"), "{namespaces}");

        // Ctrl-C: a clean shutdown with exit status 0.
        let pid = guard.0.id().to_string();
        let status = Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = guard.0.try_wait().expect("try_wait") {
                break status;
            }
            assert!(Instant::now() < deadline, "still running 20 s after SIGINT");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "{status}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// `nodeless simulate` as users and the contract's checker call it.
mod simulate {
    use std::process::{Command, Output};

    fn nodeless(args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_nodeless"))
            .args(args)
            .output()
            .expect("nodeless runs")
    }

    /// `simulate` of one file on the built-in us-west-2 catalog.
    fn simulate_us_west_2(file: &str, output: &str) -> Output {
        nodeless(&[
            "simulate",
            "-f",
            file,
            "--region",
            "us-west-2",
            "--output",
            output,
        ])
    }

    fn write(name: &str, text: &str) -> String {
        let dir = std::env::temp_dir().join(format!("nodeless-sim-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write input");
        path.display().to_string()
    }

    const POOL: &str = "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: default}\nspec: {template: {spec: {requirements: []}}}\n";

    #[test]
    fn the_readme_example_runs_on_the_builtin_catalog() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/simulate");
        let out = nodeless(&["simulate", "-f", dir, "--output", "json"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("one JSON document");
        assert_eq!(report["summary"]["pods"], 10);
        assert_eq!(
            report["fargate"].as_array().map(Vec::len),
            Some(2),
            "kube-system runs on Fargate"
        );
        assert!(
            report["summary"]["nodeClaims"]
                .as_u64()
                .is_some_and(|n| n >= 1)
        );
    }

    #[test]
    fn bad_input_exits_2_naming_file_document_and_field() {
        let file = write(
            "bad-quantity.yaml",
            &format!(
                "{POOL}---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers: [{{name: c, resources: {{requests: {{memory: 12XB}}}}}}]\n"
            ),
        );
        let out = nodeless(&["simulate", "-f", &file, "--output", "json"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("bad-quantity.yaml")
                && stderr.contains("document 1")
                && stderr.contains("memory"),
            "{stderr}"
        );
        assert!(out.stdout.is_empty(), "no partial answer on stdout");
    }

    #[test]
    fn garbage_and_missing_files_exit_2_never_panic() {
        let garbage = write("garbage.yaml", "\u{0}\u{1}: [ {{ }\n---\n- - -\n");
        for args in [
            vec!["simulate", "-f", garbage.as_str()],
            vec!["simulate", "-f", "/no/such/file.yaml"],
            vec![
                "simulate",
                "-f",
                garbage.as_str(),
                "--region",
                "xx-nowhere-1",
            ],
            vec![
                "simulate",
                "-f",
                garbage.as_str(),
                "--catalog",
                "/no/such/catalog.json",
            ],
        ] {
            let out = nodeless(&args);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(!out.stderr.is_empty());
        }
    }

    #[test]
    fn an_input_with_nothing_to_place_costs_zero_not_minus_zero() {
        let file = write("comments.yaml", "# nothing here\n---\n---\n");
        let out = simulate_us_west_2(&file, "json");
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("\"hourlyCost\":0.0"), "{text}");
    }

    #[test]
    fn table_output_is_for_people() {
        let file = write(
            "one.yaml",
            &format!(
                "{POOL}---\napiVersion: v1\nkind: Pod\nmetadata: {{name: web}}\nspec: {{containers: [{{name: c, resources: {{requests: {{cpu: 100m}}}}}}]}}\n"
            ),
        );
        let out = simulate_us_west_2(&file, "table");
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("NODE CLAIMS (1)") && text.contains("default"),
            "{text}"
        );
    }
}
