//! The `ticketbooth` binary itself: `token create` prints one token that the server accepts.

use std::process::Command;

use crate::common::{conformance, metadata, small_ticket};

conformance! {
    async fn token_create_prints_a_working_token(srv) {
        let data_dir = srv.locations.data_dir.clone();
        let out = Command::new(env!("CARGO_BIN_EXE_ticketbooth"))
            .args(["token", "create", "--name", "Carol", "--data-dir"])
            .arg(&data_dir)
            .env("DATABASE_URL", &srv.locations.database_url)
            .env("RUST_LOG", "debug")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 1, "stdout must be the token alone: {stdout:?}");
        let token = lines[0];
        assert!(token.starts_with("tb_"));
        // Only the hash is stored: the token text appears nowhere in the database files.
        if srv.backend == crate::common::Backend::Sqlite {
            for f in std::fs::read_dir(&data_dir).unwrap().flatten() {
                if f.path().is_file() {
                    let bytes = std::fs::read(f.path()).unwrap();
                    assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()), "token stored in {:?}", f.path());
                }
            }
        }
        let r = srv.upload_as(token, Some(&metadata("by-carol")), Some(small_ticket(1, 2))).await;
        assert_eq!(r.status, 201);
        assert_eq!(r.json()["owner"], "carol", "user names are slugs, lowercased");

        let bad = Command::new(env!("CARGO_BIN_EXE_ticketbooth"))
            .args(["token", "create", "--name", "not a slug", "--data-dir"])
            .arg(&data_dir)
            .output()
            .unwrap();
        assert!(!bad.status.success());
        assert!(bad.stdout.is_empty());
    }
}

/// The client commands against a live server: the real binary, its exit codes and messages.
mod client {
    use std::path::Path;

    use serde_json::{Value, json};

    use crate::common::{Backend, TestServer, small_ticket};

    struct Run {
        code: i32,
        stdout: String,
        stderr: String,
    }

    async fn run(srv: &TestServer, config: &Path, args: &[&str], with_env: bool) -> Run {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_ticketbooth"));
        cmd.args(args)
            .env("XDG_CONFIG_HOME", config)
            .env_remove("TICKETBOOTH_URL")
            .env_remove("TICKETBOOTH_TOKEN");
        if with_env {
            cmd.env("TICKETBOOTH_URL", &srv.url)
                .env("TICKETBOOTH_TOKEN", &srv.token);
        }
        let out = cmd.output().await.unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    async fn downloads(srv: &TestServer, id: &str) -> u64 {
        srv.get(&format!("/tickets/{id}")).await.json()["downloads"]
            .as_u64()
            .unwrap()
    }

    /// `compatible FILE` sends only the header and lists the tickets with that fingerprint.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn compatible_lists_tickets_for_a_local_model() {
        let srv = TestServer::start(Backend::Sqlite).await;
        let dir = tempfile::tempdir().unwrap();
        let r = srv
            .upload(
                Some(&crate::common::metadata("fits")),
                Some(small_ticket(1, 4)),
            )
            .await;
        assert_eq!(r.status, 201);
        let fp = r.json()["architecture_fingerprint"]
            .as_str()
            .unwrap()
            .to_owned();
        // Another file of the same shapes, never uploaded: only its header goes out.
        let file = dir.path().join("mine.safetensors");
        std::fs::write(&file, small_ticket(9, 2)).unwrap();
        let out = run(
            &srv,
            dir.path(),
            &["compatible", file.to_str().unwrap()],
            true,
        )
        .await;
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(
            out.stdout.contains(&format!("fingerprint {fp}")),
            "{}",
            out.stdout
        );
        assert!(out.stdout.contains("fits"), "{}", out.stdout);
        let json = run(
            &srv,
            dir.path(),
            &["compatible", file.to_str().unwrap(), "--json"],
            true,
        )
        .await;
        let first: Value = serde_json::from_str(json.stdout.lines().next().unwrap()).unwrap();
        assert_eq!(first["name"], "fits");
        let bad = dir.path().join("bad.safetensors");
        std::fs::write(&bad, b"abc").unwrap();
        let out = run(
            &srv,
            dir.path(),
            &["compatible", bad.to_str().unwrap()],
            true,
        )
        .await;
        assert_eq!(out.code, 1);
        assert!(
            out.stderr.contains("not a safetensors file"),
            "{}",
            out.stderr
        );
    }

    /// `download --part/--tensors/--packed` write files the server makes, named by the part and
    /// checked before they are kept; `compare` prints a row per layer; refusals exit 1.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn download_parts_and_compare() {
        let srv = TestServer::start(Backend::Sqlite).await;
        let dir = tempfile::tempdir().unwrap();
        let file = small_ticket(2, 3);
        let r = srv
            .upload(
                Some(&crate::common::metadata("cli-parts")),
                Some(file.clone()),
            )
            .await;
        assert_eq!(r.status, 201);
        let id = r.json()["id"].as_str().unwrap().to_owned();
        let other = srv
            .upload(
                Some(&crate::common::metadata("cli-other")),
                Some(small_ticket(5, 2)),
            )
            .await;
        assert_eq!(other.status, 201);
        let source = safetensors::SafeTensors::deserialize(&file).unwrap();
        let cwd = dir.path().to_str().unwrap();
        for (flags, name, tensors) in [
            (
                vec!["--part", "weights"],
                "cli-parts.weights.safetensors",
                vec!["fc.bias", "fc.weight"],
            ),
            (
                vec!["--tensors", "fc.bias"],
                "cli-parts.tensors.safetensors",
                vec!["fc.bias"],
            ),
        ] {
            let path = dir.path().join(name);
            let mut args = vec!["download", "alice/cli-parts", "-o", path.to_str().unwrap()];
            args.extend(flags);
            let out = run(&srv, dir.path(), &args, true).await;
            assert_eq!(out.code, 0, "{}", out.stderr);
            let bytes = std::fs::read(&path).unwrap();
            let got = safetensors::SafeTensors::deserialize(&bytes).unwrap();
            let mut names: Vec<&str> = got.names().into_iter().collect();
            names.sort();
            assert_eq!(names, tensors);
            for t in tensors {
                assert_eq!(got.tensor(t).unwrap(), source.tensor(t).unwrap());
            }
            assert!(!dir.path().join(format!("{name}.part")).exists());
        }
        let packed = dir.path().join("p.safetensors");
        let out = run(
            &srv,
            dir.path(),
            &["download", &id, "--packed", "-o", packed.to_str().unwrap()],
            true,
        )
        .await;
        assert_eq!(out.code, 0, "{}", out.stderr);
        let bytes = std::fs::read(&packed).unwrap();
        let got = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        assert!(got.tensor("fc.weight.bitmask").is_ok() && got.tensor("fc.weight.values").is_ok());
        let bad = run(
            &srv,
            dir.path(),
            &[
                "download",
                &id,
                "--part",
                "masks",
                "-o",
                &format!("{cwd}/m"),
            ],
            true,
        )
        .await;
        assert_eq!(bad.code, 1);
        assert!(bad.stderr.contains("no masks"), "{}", bad.stderr);
        assert!(!dir.path().join("m").exists() && !dir.path().join("m.part").exists());
        assert_eq!(
            downloads(&srv, &id).await,
            0,
            "generated files are not downloads"
        );

        let cmp = run(
            &srv,
            dir.path(),
            &["compare", "alice/cli-parts", "alice/cli-other"],
            true,
        )
        .await;
        assert_eq!(cmp.code, 0, "{}", cmp.stderr);
        assert!(
            cmp.stdout.contains("fc.weight") && cmp.stdout.contains("(all layers)"),
            "{}",
            cmp.stdout
        );
        let json = run(
            &srv,
            dir.path(),
            &["compare", &id, "alice/cli-other", "--json"],
            true,
        )
        .await;
        let v: Value = serde_json::from_str(&json.stdout).unwrap();
        assert_eq!(v["layers"][0]["name"], "fc.weight");
        assert!(v["overall"]["iou"].as_f64().is_some());
    }

    /// `result add` reports against owner/name, prints the verdict it leaves, and `show` prints
    /// the evidence; a server refusal is one line on stderr and exit 1.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn result_add_and_show_print_the_evidence() {
        let srv = TestServer::start(Backend::Sqlite).await;
        let dir = tempfile::tempdir().unwrap();
        let mut meta = crate::common::metadata("r20");
        meta["accuracy"] = json!(0.95);
        let r = srv.upload(Some(&meta), Some(small_ticket(1, 4))).await;
        assert_eq!(r.status, 201);
        let add = run(
            &srv,
            dir.path(),
            &[
                "result",
                "add",
                "alice/r20",
                "--kind",
                "random_reinit",
                "--accuracy",
                "0.9",
                "--seed",
                "3",
            ],
            true,
        )
        .await;
        assert_eq!(add.code, 0, "{}", add.stderr);
        assert!(
            add.stdout.contains("Evidence: wins (margin +5.00 points"),
            "{}",
            add.stdout
        );
        assert!(
            add.stdout.contains("random_reinit  1  90.00%"),
            "{}",
            add.stdout
        );
        let again = run(
            &srv,
            dir.path(),
            &[
                "result",
                "add",
                "alice/r20",
                "--kind",
                "random_reinit",
                "--accuracy",
                "0.9",
                "--seed",
                "3",
            ],
            true,
        )
        .await;
        assert_eq!(again.code, 1);
        assert!(
            again.stderr.contains("already reported"),
            "{}",
            again.stderr
        );
        let wrong = run(
            &srv,
            dir.path(),
            &[
                "result",
                "add",
                "alice/r20",
                "--kind",
                "reproduction",
                "--accuracy",
                "0.9",
                "--dataset",
                "mnist",
            ],
            true,
        )
        .await;
        assert_eq!(wrong.code, 1);
        assert!(wrong.stderr.contains("transfer"), "{}", wrong.stderr);
        let json = run(
            &srv,
            dir.path(),
            &[
                "result",
                "add",
                "alice/r20",
                "--kind",
                "random_prune",
                "--scope",
                "global",
                "--accuracy",
                "0.945",
                "--json",
            ],
            true,
        )
        .await;
        assert_eq!(json.code, 0, "{}", json.stderr);
        let answer: Value = serde_json::from_str(&json.stdout).unwrap();
        assert_eq!(answer["evidence"]["verdict"], "no_better_than_controls");
        let show = run(&srv, dir.path(), &["show", "alice/r20"], true).await;
        assert_eq!(show.code, 0, "{}", show.stderr);
        assert!(
            show.stdout.contains("Evidence: no_better_than_controls"),
            "{}",
            show.stdout
        );
        assert!(show.stdout.contains("within 1 point"), "{}", show.stdout);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn upload_search_show_frontier_and_download() {
        let srv = TestServer::start(Backend::Sqlite).await;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let file = d.join("l1.safetensors");
        let bytes = small_ticket(5, 4);
        std::fs::write(&file, &bytes).unwrap();
        let f = file.to_str().unwrap();

        let up = run(
            &srv,
            d,
            &[
                "upload",
                f,
                "--name",
                "r20-l1",
                "--task",
                "image-classification",
                "--dataset",
                "cifar10",
                "--architecture",
                "resnet20",
                "--pruning-method",
                "imp",
                "--accuracy",
                "0.91",
                "--tags",
                "lth,rewind",
            ],
            true,
        )
        .await;
        assert_eq!(up.code, 0, "{}", up.stderr);
        let id = up.stdout.lines().next().unwrap().to_owned();
        assert_eq!(
            up.stdout.lines().nth(1).unwrap(),
            format!("{}/tickets/{id}", srv.url)
        );

        // --metadata JSON, a flag overriding it, and the parent by owner/name.
        let meta = d.join("meta.json");
        std::fs::write(
            &meta,
            json!({"name": "r20-l2", "task": "image-classification", "dataset": "cifar10",
            "architecture": "resnet20", "pruning_method": "imp", "accuracy": 0.5})
            .to_string(),
        )
        .unwrap();
        let file2 = d.join("l2.safetensors");
        std::fs::write(&file2, small_ticket(6, 8)).unwrap();
        let up2 = run(
            &srv,
            d,
            &[
                "upload",
                file2.to_str().unwrap(),
                "--metadata",
                meta.to_str().unwrap(),
                "--accuracy",
                "0.9",
                "--parent",
                "alice/r20-l1",
                "--json",
            ],
            true,
        )
        .await;
        assert_eq!(up2.code, 0, "{}", up2.stderr);
        let t2: Value = serde_json::from_str(up2.stdout.trim()).unwrap();
        assert_eq!(
            (t2["parent_id"].as_str(), t2["accuracy"].as_f64()),
            (Some(id.as_str()), Some(0.9))
        );

        let search = run(
            &srv,
            d,
            &[
                "search",
                "--task",
                "image-classification",
                "--sort",
                "accuracy",
                "--json",
            ],
            true,
        )
        .await;
        let names: Vec<String> = search
            .stdout
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["name"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(names, ["r20-l1", "r20-l2"]);
        let table = run(&srv, d, &["search", "--min-sparsity", "0.8"], true).await;
        let lines: Vec<&str> = table.stdout.lines().collect();
        assert!(
            lines[0].starts_with("ID") && lines[0].contains("WEIGHTS REMAINING"),
            "{}",
            table.stdout
        );
        assert_eq!(lines.len(), 2);
        assert!(
            lines[1].contains("alice/r20-l2")
                && lines[1].contains("12.5%")
                && lines[1].contains("90.00%"),
            "{}",
            table.stdout
        );

        let show = run(&srv, d, &["show", "alice/r20-l1"], true).await;
        assert_eq!(show.code, 0, "{}", show.stderr);
        assert!(
            show.stdout.contains(
                "weights         25.0% of weights remaining (64 of 256 prunable weights kept; sparsity 0.7500)"
            ),
            "{}",
            show.stdout
        );
        assert!(
            show.stdout.contains("accuracy        91.00%"),
            "{}",
            show.stdout
        );
        assert!(
            show.stdout.lines().any(|l| l.starts_with("fc.weight")
                && l.contains("64 / 256")
                && l.ends_with("25.0%")),
            "{}",
            show.stdout
        );
        assert!(
            show.stdout.contains("Not pruned: fc.bias (16)"),
            "{}",
            show.stdout
        );

        let frontier = run(
            &srv,
            d,
            &["frontier", "--task", "image-classification"],
            true,
        )
        .await;
        // Both are on it: l2 is sparser, l1 more accurate.
        assert_eq!(frontier.stdout.lines().count(), 3, "{}", frontier.stdout);
        assert!(
            frontier
                .stdout
                .lines()
                .nth(1)
                .unwrap()
                .contains("alice/r20-l1"),
            "{}",
            frontier.stdout
        );

        // Download, then resume after a cut: only the rest is fetched, and it is not a new download.
        let out = d.join("got.safetensors");
        let dl = run(
            &srv,
            d,
            &["download", &id, "-o", out.to_str().unwrap()],
            true,
        )
        .await;
        assert_eq!(dl.code, 0, "{}", dl.stderr);
        assert_eq!(std::fs::read(&out).unwrap(), bytes);
        assert_eq!(downloads(&srv, &id).await, 1);
        let cut = d.join("cut.safetensors");
        std::fs::write(d.join("cut.safetensors.part"), &bytes[..100]).unwrap();
        let resumed = run(
            &srv,
            d,
            &["download", "alice/r20-l1", "-o", cut.to_str().unwrap()],
            true,
        )
        .await;
        assert_eq!(resumed.code, 0, "{}", resumed.stderr);
        assert_eq!(std::fs::read(&cut).unwrap(), bytes);
        assert!(!d.join("cut.safetensors.part").exists());
        assert_eq!(
            downloads(&srv, &id).await,
            1,
            "a resumed range is not a new download"
        );

        // A corrupt partial file: the hash check fails, nothing is left at PATH.
        let bad = d.join("bad.safetensors");
        std::fs::write(d.join("bad.safetensors.part"), vec![0xAB; 100]).unwrap();
        let mismatch = run(
            &srv,
            d,
            &["download", &id, "-o", bad.to_str().unwrap()],
            true,
        )
        .await;
        assert_eq!(mismatch.code, 1);
        assert!(
            mismatch.stderr.contains("sha256 mismatch"),
            "{}",
            mismatch.stderr
        );
        assert!(!mismatch.stderr.contains("panicked"));
        assert!(!bad.exists() && !d.join("bad.safetensors.part").exists());
        // Run again: a clean download.
        assert_eq!(
            run(
                &srv,
                d,
                &["download", &id, "-o", bad.to_str().unwrap()],
                true
            )
            .await
            .code,
            0
        );
        assert_eq!(std::fs::read(&bad).unwrap(), bytes);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn checks_locally_reports_server_errors_and_logs_in() {
        let srv = TestServer::start(Backend::Sqlite).await;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let zip = d.join("model.safetensors");
        std::fs::write(&zip, b"PK\x03\x04\x14\x00\x00\x00\x08\x00\x00\x00").unwrap();
        let flags = [
            "--name",
            "x",
            "--task",
            "t",
            "--dataset",
            "d",
            "--architecture",
            "a",
            "--pruning-method",
            "imp",
        ];
        let mut args = vec!["upload", zip.to_str().unwrap()];
        args.extend(flags);
        args.extend(["--accuracy", "0.5"]);
        let r = run(&srv, d, &args, true).await;
        assert_eq!(r.code, 1);
        assert!(
            r.stderr
                .contains("model.safetensors: not a safetensors file")
                && r.stderr.contains("zip archive")
                && r.stderr.contains(
                    "save it with `safetensors.torch.save_file(model.state_dict(), path)`"
                ),
            "{}",
            r.stderr
        );

        let good = d.join("good.safetensors");
        std::fs::write(&good, small_ticket(9, 2)).unwrap();
        let mut args = vec!["upload", good.to_str().unwrap()];
        args.extend(flags);
        args.extend(["--accuracy", "93.4"]);
        let r = run(&srv, d, &args, true).await;
        assert_eq!(r.code, 1);
        assert!(
            r.stderr.contains(
                "error: accuracy: must be a fraction in [0, 1]; 93.4 looks like a percentage (did you mean 0.934?)"
            ),
            "the field is named once: {}",
            r.stderr
        );
        assert_eq!(srv.ticket_rows().await, 0, "local checks send nothing");

        let mut args = vec!["upload", good.to_str().unwrap()];
        args.extend(flags);
        args.extend(["--accuracy", "0.5"]);
        assert_eq!(run(&srv, d, &args, true).await.code, 0);
        let again = run(&srv, d, &args, true).await;
        assert_eq!(again.code, 1);
        assert!(
            again
                .stderr
                .trim_end()
                .ends_with("error: name: you already have a ticket named 'x' (conflict)"),
            "{}",
            again.stderr
        );

        let anonymous = run(&srv, d, &args, false).await;
        assert_eq!(anonymous.code, 1);
        assert!(
            anonymous.stderr.contains("no API token"),
            "{}",
            anonymous.stderr
        );
        assert_eq!(
            run(&srv, d, &["upload"], true).await.code,
            2,
            "usage errors exit 2"
        );
        assert_eq!(
            run(&srv, d, &["search", "--limit", "many"], true)
                .await
                .code,
            2
        );
        let missing = run(&srv, d, &["show", "nope"], true).await;
        assert_eq!(missing.code, 1);
        assert!(missing.stderr.contains("not_found"), "{}", missing.stderr);

        // login stores server and token (mode 0600); later commands need no flags or env.
        let bad_login = run(
            &srv,
            d,
            &["login", "--server", &srv.url, "--token", "tb_wrong"],
            false,
        )
        .await;
        assert_eq!(bad_login.code, 1, "a bad token is reported at login");
        let login = run(
            &srv,
            d,
            &["login", "--server", &srv.url, "--token", &srv.token],
            false,
        )
        .await;
        assert_eq!(login.code, 0, "{}", login.stderr);
        let config = d.join("ticketbooth/config.json");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&config).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let search = run(&srv, d, &["search", "--json"], false).await;
        assert_eq!(search.code, 0, "{}", search.stderr);
        assert_eq!(search.stdout.lines().count(), 1);
        let good2 = d.join("good2.safetensors");
        std::fs::write(&good2, small_ticket(10, 2)).unwrap();
        let mut args = vec!["upload", good2.to_str().unwrap()];
        args.extend([
            "--name",
            "via-login",
            "--task",
            "t",
            "--dataset",
            "d",
            "--architecture",
            "a",
            "--pruning-method",
            "imp",
            "--accuracy",
            "0.5",
        ]);
        assert_eq!(run(&srv, d, &args, false).await.code, 0);
    }

    /// A torch.nn.utils.prune file: `fc.weight_orig` + `fc.weight_mask` (4 of 16 kept), a bias,
    /// and an unmasked layer, with the ticket's shape in `__metadata__`.
    fn torch_prune_file(meta: &[(&str, &str)]) -> Vec<u8> {
        use crate::common::{f32_bytes, safetensors_file};
        use safetensors::Dtype;
        safetensors_file(
            &[
                (
                    "fc.weight_orig",
                    Dtype::F32,
                    vec![4, 4],
                    f32_bytes((0..16).map(|i| i as f32 + 1.0)),
                ),
                (
                    "fc.weight_mask",
                    Dtype::F32,
                    vec![4, 4],
                    f32_bytes((0..16).map(|i| if i % 4 == 0 { 1.0 } else { 0.0 })),
                ),
                (
                    "fc.bias",
                    Dtype::F32,
                    vec![4],
                    f32_bytes([1.0, 2.0, 3.0, 4.0]),
                ),
                ("head.weight", Dtype::F32, vec![2, 4], f32_bytes([1.0; 8])),
            ],
            meta,
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_first_ten_minutes() {
        let srv = TestServer::start(Backend::Sqlite).await;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();

        // A percentage for a fraction flag is refused before any request: a usage error
        // (exit 2), even with no server to talk to.
        for (flag, value, hint) in [
            ("--min-accuracy", "97", "did you mean 0.97?"),
            ("--min-sparsity", "90", "did you mean 0.9?"),
            (
                "--max-accuracy",
                "-0.5",
                "must be a fraction in [0, 1]; got -0.5",
            ),
        ] {
            let r = run(
                &srv,
                d,
                &["search", flag, value, "--server", "http://127.0.0.1:9"],
                false,
            )
            .await;
            assert_eq!(r.code, 2, "{flag} {value}: {}", r.stderr);
            assert!(
                r.stderr.contains(hint) && r.stderr.contains(flag),
                "{}",
                r.stderr
            );
            assert!(
                !r.stderr.contains("cannot reach"),
                "checked locally: {}",
                r.stderr
            );
        }

        // Metadata in the file; the flags add the rest, and upload says what it took.
        let file = d.join("pruned.safetensors");
        std::fs::write(
            &file,
            torch_prune_file(&[
                ("task", "image-classification"),
                ("dataset", "mnist"),
                ("architecture", "lenet-300-100"),
                ("pruning_method", "imp"),
                ("accuracy", "0.97"),
                ("license", "overridden"),
            ]),
        )
        .unwrap();
        let up = run(
            &srv,
            d,
            &[
                "upload",
                file.to_str().unwrap(),
                "--name",
                "lenet-l3",
                "--dense-accuracy",
                "0.98",
                "--metric",
                "top5_accuracy",
                "--hyperparameters",
                r#"{"lr": 0.1, "batch_size": 128}"#,
                "--license",
                "MIT",
                "--paper-url",
                "https://arxiv.org/abs/1803.03635",
                "--code-url",
                "https://github.com/facebookresearch/open_lth",
                "--description",
                "IMP level 3",
            ],
            true,
        )
        .await;
        assert_eq!(up.code, 0, "{}", up.stderr);
        assert!(
            up.stderr.contains(
                "from the file's __metadata__: task, dataset, architecture, pruning_method, accuracy\n"
            ),
            "{}",
            up.stderr
        );
        assert!(
            up.stderr.contains("25.0% of weights remaining"),
            "{}",
            up.stderr
        );
        let id = up.stdout.lines().next().unwrap().to_owned();
        let t = srv.get(&format!("/tickets/{id}")).await.json();
        assert_eq!(t["accuracy"], 0.97);
        assert_eq!(t["dense_accuracy"], 0.98);
        assert_eq!(t["metric"], "top5_accuracy");
        assert_eq!(t["hyperparameters"], json!({"lr": 0.1, "batch_size": 128}));
        assert_eq!(t["license"], "MIT", "flags win over __metadata__");
        assert_eq!(t["paper_url"], "https://arxiv.org/abs/1803.03635");
        assert_eq!(
            t["code_url"],
            "https://github.com/facebookresearch/open_lth"
        );
        assert_eq!(t["description"], "IMP level 3");

        let bad = run(
            &srv,
            d,
            &[
                "upload",
                file.to_str().unwrap(),
                "--name",
                "x",
                "--hyperparameters",
                "lr=0.1",
            ],
            true,
        )
        .await;
        assert_eq!(bad.code, 1);
        assert!(
            bad.stderr
                .contains("error: hyperparameters: not valid JSON"),
            "{}",
            bad.stderr
        );

        // show: one row per parameter, the masked pair as `fc.weight`, the rest apart.
        let show = run(&srv, d, &["show", "alice/lenet-l3"], true).await;
        assert_eq!(show.code, 0, "{}", show.stderr);
        let rows: Vec<&str> = show
            .stdout
            .lines()
            .skip_while(|l| !l.starts_with("PARAMETER"))
            .collect();
        assert!(
            rows[0].contains("KEPT / TOTAL") && rows[0].contains("REMAINING"),
            "{}",
            show.stdout
        );
        assert!(
            rows[1].starts_with("fc.weight ")
                && rows[1].contains("[4, 4]")
                && rows[1].contains("4 / 16")
                && rows[1].ends_with("25.0%"),
            "{}",
            show.stdout
        );
        assert!(rows[2].is_empty(), "one row: {}", show.stdout);
        assert_eq!(rows[3], "Not pruned: fc.bias (4), head.weight (8)");
        assert!(
            !show.stdout.contains("weight_orig") && !show.stdout.contains("weight_mask"),
            "{}",
            show.stdout
        );
        assert!(
            show.stdout.contains("accuracy        97.00%"),
            "{}",
            show.stdout
        );
        assert!(
            show.stdout.contains("dense_accuracy  98.00%"),
            "{}",
            show.stdout
        );

        // An empty result says so, with the filters used (and --q is --query).
        let none = run(
            &srv,
            d,
            &[
                "search",
                "--task",
                "image-classification",
                "--min-accuracy",
                "0.99",
                "--q",
                "lenet",
                "--sort",
                "accuracy",
            ],
            true,
        )
        .await;
        assert_eq!(none.code, 0, "{}", none.stderr);
        assert_eq!(
            none.stdout.trim(),
            "no tickets match task=image-classification q=lenet min_accuracy=0.99"
        );
        let json = run(
            &srv,
            d,
            &["search", "--query", "nothing-like-this", "--json"],
            true,
        )
        .await;
        assert_eq!((json.code, json.stdout.as_str()), (0, ""));
        assert!(
            json.stderr.contains("no tickets match q=nothing-like-this"),
            "{}",
            json.stderr
        );
        let found = run(&srv, d, &["search", "--query", "LENET"], true).await;
        assert!(
            found.stdout.contains("alice/lenet-l3")
                && found.stdout.contains("25.0%")
                && found.stdout.contains("97.00%"),
            "{}",
            found.stdout
        );
        let frontier = run(&srv, d, &["frontier", "--task", "speech"], true).await;
        assert_eq!(frontier.stdout.trim(), "no tickets match task=speech");
    }

    /// A hostile registry answers a ticket named `../../../escaped`: `download` refuses to make
    /// a file of that name, and writes nothing anywhere; `-o` still works.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn download_never_writes_outside_the_chosen_path() {
        use axum::routing::get;
        let bytes = small_ticket(3, 2);
        let sha = crate::common::sha256_hex(&bytes);
        let id = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
        let meta =
            json!({"id": id, "name": "../../../escaped", "sha256": sha, "size_bytes": bytes.len()});
        let file = bytes.clone();
        let fake = axum::Router::new()
            .route(
                "/api/v1/tickets/{id}",
                get(move || {
                    let m = meta.clone();
                    async move { axum::Json(m) }
                }),
            )
            .route(
                "/api/v1/tickets/{id}/file",
                get(move || {
                    let f = file.clone();
                    async move { f }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, fake).await.unwrap() });

        let root = tempfile::tempdir().unwrap();
        let cwd = root.path().join("a/b/c");
        std::fs::create_dir_all(&cwd).unwrap();
        let download = |extra: &[&str]| {
            let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_ticketbooth"));
            cmd.arg("download")
                .arg(id)
                .args(extra)
                .current_dir(&cwd)
                .env("XDG_CONFIG_HOME", root.path())
                .env("TICKETBOOTH_URL", &url)
                .env_remove("TICKETBOOTH_TOKEN");
            cmd.output()
        };
        let out = download(&[]).await.unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("not a valid ticket name"), "{stderr}");
        let mut written = Vec::new();
        let mut stack = vec![root.path().to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                if entry.path().is_dir() {
                    stack.push(entry.path())
                } else {
                    written.push(entry.path())
                }
            }
        }
        assert!(written.is_empty(), "files written: {written:?}");
        // With a path chosen by the user, the bytes are fetched and verified as usual.
        let out = download(&["-o", "mine.safetensors"]).await.unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(std::fs::read(cwd.join("mine.safetensors")).unwrap(), bytes);
    }
}
