use super::*;
use cloudgate_pki::dn::SubjectName;
use cloudgate_pki::{KeyType, SelfSignedRequest, generate_self_signed};
use std::os::unix::fs::PermissionsExt;

fn store() -> (tempfile::TempDir, CertStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = CertStore::new(
        Layout::new(dir.path().join("data")),
        FileOwnership::owner_only(),
    );
    (dir, store)
}

fn add(store: &CertStore, name: &str) -> StoredCertificate {
    let g = generate_self_signed(&SelfSignedRequest {
        key_type: KeyType::EcdsaP256,
        subject: SubjectName::for_licensee("Acme"),
        sans: vec![],
        valid_days: 30,
        now: OffsetDateTime::now_utc(),
    })
    .unwrap();
    store
        .add(NewEntry {
            cert_der: &g.cert_der,
            key_pkcs8_der: &g.key_pkcs8_der,
            chain: vec![],
            friendly_name: name.into(),
            source: Source::Generated,
        })
        .unwrap()
}

#[test]
fn add_find_apply_remove() {
    let (_d, store) = store();
    assert!(store.list().unwrap().is_empty());
    let a = add(&store, "a");
    let b = add(&store, "b");
    assert_eq!(store.list().unwrap().len(), 2);
    let found = store
        .find(&a.info.fingerprints.thumbprint().to_lowercase())
        .unwrap();
    assert_eq!(found.meta.friendly_name, "a");
    assert!(store.find(&b.info.fingerprints.sha256_colons()).is_ok());
    assert!(store.find(&b.info.fingerprints.spki_pin()).is_ok());

    assert!(store.apply(&a).unwrap().is_none());
    assert_eq!(store.applied().unwrap().unwrap().meta.friendly_name, "a");
    let prev = store.apply(&b).unwrap().unwrap();
    assert_eq!(prev.thumbprint, a.info.fingerprints.thumbprint());
    assert!(matches!(
        store.remove(&b, false),
        Err(StoreError::CertificateInUse { .. })
    ));
    store.remove(&a, false).unwrap();
    store.remove(&b, true).unwrap();
    assert!(store.list().unwrap().is_empty());
    assert!(store.applied().unwrap().is_none());
    let audit = std::fs::read_to_string(store.layout().audit_log()).unwrap();
    assert_eq!(
        audit
            .lines()
            .filter(|l| l.contains(audit::CERTIFICATE_UPDATED))
            .count(),
        2
    );
}

#[test]
fn a_handle_acting_for_someone_names_them_in_its_one_entry_per_change() {
    let (_d, store) = store();
    let a = add(&store.acting_as("token:ci:1234"), "a");
    store.acting_as("alice").apply(&a).unwrap();
    store.apply(&a).unwrap();
    let audit = std::fs::read_to_string(store.layout().audit_log()).unwrap();
    let entries: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let admins: Vec<(&str, Option<&str>)> = entries
        .iter()
        .map(|e| (e["event"].as_str().unwrap(), e["admin"].as_str()))
        .collect();
    assert_eq!(
        admins,
        [
            ("cert.added", Some("token:ci:1234")),
            ("cert.applied", Some("alice")),
            ("cert.applied", None),
        ]
    );
}

#[test]
fn unknown_and_ambiguous_prefixes() {
    let (_d, store) = store();
    let entries: Vec<_> = (0..20).map(|i| add(&store, &format!("e{i}"))).collect();
    let thumbprints: Vec<String> = entries
        .iter()
        .map(|e| e.info.fingerprints.thumbprint())
        .collect();
    let absent = (0u32..).map(|n| format!("{n:08X}")).find(|p| {
        !thumbprints.iter().any(|t| t.starts_with(p))
            && !entries
                .iter()
                .any(|e| e.info.fingerprints.sha256_hex().starts_with(p))
    });
    assert!(matches!(
        store.find(&absent.unwrap()),
        Err(StoreError::NotFound { .. })
    ));
    // Two real entries whose thumbprints are made to share their first eight digits: the
    // prefix must name both, and the whole thumbprint only one.
    let a = entries[0].clone();
    let mut b = entries[1].clone();
    b.info.fingerprints.sha1[..4].copy_from_slice(&a.info.fingerprints.sha1[..4]);
    let prefix = &a.info.fingerprints.thumbprint()[..8];
    let err = select_unique(prefix, vec![a.clone(), b.clone()]).unwrap_err();
    match &err {
        StoreError::Ambiguous { matches, .. } => assert_eq!(matches.len(), 2),
        other => panic!("expected ambiguity, got {other}"),
    }
    assert!(err.to_string().contains("matches 2 certificates") && err.to_string().contains("e1"));
    assert!(err.is_bad_input());
    let whole = a.info.fingerprints.thumbprint();
    assert_eq!(
        select_unique(&whole, vec![a, b])
            .unwrap()
            .meta
            .friendly_name,
        "e0"
    );
}

#[test]
fn files_are_private_and_open_keys_refused() {
    let (_d, store) = store();
    let a = add(&store, "a");
    for p in [a.key_path(), a.cert_path()] {
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert_eq!(
        std::fs::metadata(store.layout().store_dir())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    std::fs::set_permissions(a.key_path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = store.list().unwrap_err().to_string();
    assert!(e.contains("key.pem") && e.contains("chmod 0640"), "{e}");
}

#[test]
fn a_damaged_entry_is_reported_with_its_path() {
    let (_d, store) = store();
    let a = add(&store, "a");
    std::fs::write(a.cert_path(), "-----BEGIN CERTIFICATE-----\nAAAA\n").unwrap();
    let e = store.list().unwrap_err().to_string();
    assert!(e.contains("cert.pem") && e.contains("damaged"), "{e}");
}

#[test]
fn a_mismatched_key_is_refused_on_add_and_on_load() {
    let (_d, store) = store();
    let a = add(&store, "a");
    let b = add(&store, "b");
    std::fs::copy(b.key_path(), a.key_path()).unwrap();
    let e = store.load_private_key(&a).unwrap_err().to_string();
    assert!(e.contains("does not belong"), "{e}");
    assert!(store.apply(&a).is_err());
}

#[test]
fn a_left_over_temp_entry_is_invisible_and_cleaned() {
    let (_d, store) = store();
    add(&store, "a");
    let junk = store.layout().tmp_dir().join("half");
    std::fs::create_dir(&junk).unwrap();
    std::fs::write(junk.join("key.pem"), "x").unwrap();
    assert_eq!(store.list().unwrap().len(), 1);
    add(&store, "b");
    assert!(!junk.exists());
}
