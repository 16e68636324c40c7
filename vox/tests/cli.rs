//! The `vox` command line, run as a process (the binary cargo built).

/// CLI errors are one line on stderr that says what to do, and exit 1.
#[test]
fn cli_errors_are_one_clear_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let vox = env!("CARGO_BIN_EXE_vox");
    let run = |args: &[&str]| {
        std::process::Command::new(vox)
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .env_remove("VOX_KAFKA_BROKERS")
            .env_remove("VOX_DATABASE_URL")
            .output()
            .expect("run vox")
    };
    let created = run(&["tenant", "create", "acme"]);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    for (args, expected) in [
        (&["tenant", "create", "acme"][..], "already exists"),
        (&["tenant", "create", "Bad Id"][..], "is not valid"),
        (
            &["collection", "create", "--tenant", "nobody", "nps"][..],
            "create it first",
        ),
        (&["ingest"][..], "--kafka-brokers"),
    ] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: {stderr}");
        assert!(
            lines[0].starts_with("error: ") && lines[0].contains(expected),
            "{args:?}: {stderr}"
        );
    }
}

/// The CLI's own hardening: a private data directory, refusals that say what
/// to do, idempotent creates, lists, and certificates for the listeners.
#[test]
fn cli_keeps_data_private_and_commands_repeatable() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let vox = env!("CARGO_BIN_EXE_vox");
    let run = |args: &[&str]| {
        let output = std::process::Command::new(vox)
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .env_remove("VOX_KAFKA_BROKERS")
            .env_remove("VOX_DATABASE_URL")
            .env_remove("VOX_TOPIC_NAMESPACE")
            .env_remove("VOX_KAFKA_ALLOW_UNSAFE_DURABILITY")
            .env_remove("VOX_KAFKA_REPLICATION_FACTOR")
            .env_remove("VOX_KAFKA_MIN_INSYNC_REPLICAS")
            .output()
            .expect("run vox");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let mode = |p: &std::path::Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;

    let (code, _, err) = run(&["tenant", "create", "acme"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(mode(&data), 0o700, "the data directory is private");
    assert_eq!(mode(&data.join("log.sqlite")), 0o600, "so is the log");
    // Repeatable: --if-not-exists succeeds without a second event.
    let (code, out, err) = run(&["tenant", "create", "acme", "--if-not-exists"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("exists"), "{out}");
    let (code, _, _) = run(&["collection", "create", "--tenant", "acme", "nps"]);
    assert_eq!(code, Some(0));
    let (code, _, err) = run(&["collection", "create", "--tenant", "acme", "nps", "--if-not-exists"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, first, _) = run(&["client", "create", "--tenant", "acme", "--name", "crm"]);
    assert_eq!(code, Some(0));
    let (code, again, err) = run(&[
        "client",
        "create",
        "--tenant",
        "acme",
        "--name",
        "crm",
        "--if-not-exists",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!again.contains("VOX_CLIENT_SECRET"), "no second secret: {again}");
    assert_eq!(
        first.lines().next(),
        again.lines().next(),
        "the same client id is printed"
    );
    let (_, tenants, _) = run(&["tenant", "list"]);
    assert_eq!(tenants.lines().count(), 1, "{tenants}");
    assert!(tenants.contains("\"id\":\"acme\""), "{tenants}");
    let (_, collections, _) = run(&["collection", "list", "--tenant", "acme"]);
    assert!(collections.contains("\"id\":\"nps\""), "{collections}");
    let (_, clients, _) = run(&["client", "list", "--tenant", "acme"]);
    assert!(clients.contains("\"active_secret_versions\":[1]"), "{clients}");
    assert!(!clients.contains("vox_sk_"), "never a secret: {clients}");
    let (code, _, err) = run(&["inspect", "feedback", "--tenant", "nosuch"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("'nosuch' does not exist"), "{err}");
    let (code, _, err) = run(&["inspect", "feedback", "--tenant", "acme"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("store.sqlite"), "says which store it read: {err}");

    let client_id = first
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("export VOX_CLIENT_ID="))
        .expect("client id")
        .to_owned();
    let (code, _, err) = run(&[
        "client",
        "rotate",
        "--tenant",
        "acme",
        &client_id,
        "--grace",
        "99999999999d",
    ]);
    assert_eq!(code, Some(2), "a usage error: {err}");
    assert!(err.contains("longer than the limit of 365 days"), "{err}");
    let (code, _, err) = run(&[
        "process",
        "--kafka-brokers",
        "127.0.0.1:1",
        "--kafka-replication-factor",
        "1",
        "--kafka-min-insync-replicas",
        "1",
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("--kafka-allow-unsafe-durability"), "{err}");
    assert!(err.contains("replication factor 1"), "{err}");

    let certs = dir.path().join("certs");
    let (code, out, err) = run(&[
        "cert",
        "create",
        "--dir",
        certs.to_str().expect("utf-8"),
        "--name",
        "ingest.example.com",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("--tls-cert"), "{out}");
    assert_eq!(mode(&certs.join("server.key")), 0o600);
    assert!(certs.join("ca.pem").exists());

    // A configuration file that holds a secret must be private.
    let config = dir.path().join("vox.toml");
    std::fs::write(&config, format!("kek = \"{}\"\n", "ab".repeat(32))).expect("config");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let (code, _, err) = run(&["--config", config.to_str().expect("utf-8"), "tenant", "list"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("vox.toml") && err.contains("other users"), "{err}");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let (code, _, err) = run(&["--config", config.to_str().expect("utf-8"), "tenant", "list"]);
    assert_eq!(code, Some(0), "{err}");

    // A data directory others can read is refused, with the fix.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let (code, _, err) = run(&["tenant", "list"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("chmod") && err.contains("other users"), "{err}");
}
