//! The console's administrators and API tokens from the command line.

use crate::util::Env;

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn administrators_and_api_tokens_are_kept_hashed_and_audited() {
    let env = Env::new();
    let pw = env.path("pw");
    std::fs::write(&pw, "correct horse battery\n").unwrap();
    let pw = pw.to_str().unwrap();
    let added = json(&env.ok(&[
        "sp",
        "admin",
        "add",
        "alice",
        "--password-file",
        pw,
        "--json",
    ]));
    assert_eq!(added["name"], "alice");
    // Bad input: exit 2 with the reason, nothing written.
    let e = env.fails(&["sp", "admin", "add", "alice", "--password-file", pw], 2);
    assert!(e.contains("exists already"), "{e}");
    let e = env.fails(
        &["sp", "admin", "add", "<script>", "--password-file", pw],
        2,
    );
    assert!(e.contains("administrator name"), "{e}");
    let short = env.path("short");
    std::fs::write(&short, "abc\n").unwrap();
    let e = env.fails(
        &[
            "sp",
            "admin",
            "add",
            "bob",
            "--password-file",
            short.to_str().unwrap(),
        ],
        2,
    );
    assert!(e.contains("shorter than 8"), "{e}");
    let e = env.fails(&["sp", "admin", "remove", "nobody"], 2);
    assert!(e.contains("no administrator"), "{e}");
    let list = json(&env.ok(&["sp", "admin", "list", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");

    // A token is shown once; the database and the audit log hold its id, never the secret.
    let created = json(&env.ok(&[
        "sp",
        "admin",
        "token",
        "create",
        "--name",
        "ci",
        "--expires",
        "30d",
        "--json",
    ]));
    let token = created["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("cgapi_"), "{created}");
    let secret = token.rsplit('_').next().unwrap();
    let db = std::fs::read(env.data.join("sp.db")).unwrap();
    assert!(
        !db.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the secret is not stored"
    );
    let audit = std::fs::read_to_string(env.data.join("audit.log")).unwrap();
    assert!(
        audit.contains("api_token.created") && !audit.contains(secret),
        "{audit}"
    );
    let listed = env.ok(&["sp", "admin", "token", "list"]);
    assert!(
        listed.contains("active") && !listed.contains(secret),
        "{listed}"
    );
    let e = env.fails(
        &[
            "sp",
            "admin",
            "token",
            "create",
            "--name",
            "x",
            "--expires",
            "400d",
        ],
        2,
    );
    assert!(e.contains("--expires"), "{e}");
    let id = created["id"].as_str().unwrap();
    let revoked = json(&env.ok(&["sp", "admin", "token", "revoke", &id[..6], "--json"]));
    assert_eq!(revoked["state"], "revoked");
    let e = env.fails(&["sp", "admin", "token", "revoke", "ffffff"], 2);
    assert!(e.contains("no API token"), "{e}");
    env.ok(&["sp", "admin", "remove", "alice"]);
    assert!(
        json(&env.ok(&["sp", "admin", "list", "--json"]))
            .as_array()
            .unwrap()
            .is_empty()
    );
}
