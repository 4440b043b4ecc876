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
