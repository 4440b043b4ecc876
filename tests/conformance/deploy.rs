//! docker-compose.yml cannot run here (no Docker engine), so this checks that what it passes is
//! what the binary accepts: every setting in deploy/ticketbooth.env is a flag's variable, the
//! whole set passes `serve --check`, the health check's command exists, and nginx balances over
//! the replicas the compose file defines.

use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap()
}

fn env_file() -> Vec<(String, String)> {
    read("deploy/ticketbooth.env")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

#[test]
fn compose_settings_are_flags_the_binary_has() {
    let bin = env!("CARGO_BIN_EXE_ticketbooth");
    let help = String::from_utf8(
        Command::new(bin)
            .args(["serve", "--help"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    for (key, _) in env_file() {
        // AWS_* configure the S3 client (object_store's standard variables), not a flag.
        if key.starts_with("AWS_") {
            continue;
        }
        assert!(
            help.contains(&format!("[env: {key}=")),
            "{key} is not a `ticketbooth serve` setting:\n{help}"
        );
    }

    // The whole set is a valid configuration (a writable data dir stands in for the volume).
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin)
        .args(["serve", "--check"])
        .env_clear()
        .envs(env_file())
        .env("TICKETBOOTH_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("s3://tickets/blobs") && stdout.contains("0.0.0.0:8080"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("ticketbooth-secret"),
        "no secrets in the check's output"
    );

    // Without the private-network opt-in, plain http to a non-loopback endpoint is refused.
    let refused = Command::new(bin)
        .args(["serve", "--check"])
        .env_clear()
        .envs(
            env_file()
                .into_iter()
                .filter(|(k, _)| k != "AWS_ALLOW_HTTP"),
        )
        .env("TICKETBOOTH_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(!refused.status.success());

    let compose = read("docker-compose.yml");
    assert!(
        compose.contains(r#"command: ["serve"]"#)
            && compose.contains("env_file: deploy/ticketbooth.env")
    );
    assert!(compose.contains(r#"["CMD", "ticketbooth", "probe", "http://127.0.0.1:8080/readyz"]"#));
    let probe = Command::new(bin)
        .args(["probe", "--help"])
        .output()
        .unwrap();
    assert!(
        probe.status.success(),
        "the health check's subcommand exists"
    );
    let nginx = read("deploy/nginx.conf");
    for replica in ["ticketbooth-1", "ticketbooth-2"] {
        assert!(
            compose.contains(&format!("  {replica}:")),
            "{replica} is a compose service"
        );
        assert!(
            nginx.contains(&format!("server {replica}:8080")),
            "nginx balances over {replica}"
        );
    }
    let dockerfile = read("Dockerfile");
    assert!(
        dockerfile.contains("USER ticketbooth"),
        "the image runs as a non-root user"
    );
}
