//! Model-based test of the tenant's trust state machine against the SP's real certificate store.
//!
//! Random sequences of SP actions (generate and apply, renew, stage, apply the staged successor,
//! apply --compromised), tenant actions (check online, stay offline, verify by hand) and an
//! attacker who holds every key the SP marked compromised (presents the old key, presents a
//! successor it signed with a stolen key, refuses the second connection) run against the real
//! `CertStore` (its rollover history and what the gateway publishes from it) and the real
//! `TrustState`, and are compared at every step with a reference model that knows keys only by
//! number. The rules checked:
//!
//! - the tenant accepts a certificate if and only if a chain of non-compromised proofs leads to
//!   its key from the key it trusts (the reference's walk), or it is the trusted key itself;
//! - an honest sequence (renewals, staged rollovers, checks, offline stretches) never refuses;
//! - once the tenant has been told of a compromise (or verified by hand after it), the attacker
//!   holding that key is refused, always;
//! - a gateway the attacker got told to the tenant (while in the middle with a stolen key) is
//!   only a place to open tunnels: what it presents is followed only along proofs, a refusal
//!   there drops it and never raises or clears the alarm, and once told of a compromise the
//!   tenant never trusts the stolen key through it;
//! - `refresh --thumbprint` naming the SP's certificate while the attacker holds the address
//!   never moves the pin (it ends pinned to what was named, or fails);
//! - after the sequence, a tenant that reconciles (checks the real SP, verifies by hand if
//!   refused) trusts the SP and refuses the attacker.
//!
//! `CLOUDGATE_MODEL_CASES` and `CLOUDGATE_MODEL_SEED` override the fixed case count and seed; a
//! failure prints the seed and the shrunk sequence.

use cloudgate_db::TrustMode;
use cloudgate_pki::fingerprint::upper_hex;
use cloudgate_pki::rollover::{ChainLink, MAX_CHAIN_LINKS, sign_rollover};
use cloudgate_pki::{CertificateInfo, KeyType, SelfSignedRequest, generate_self_signed};
use cloudgate_store::{
    CertStore, FileOwnership, Layout, NewEntry, PublishedTrust, Source, StoredCertificate,
};
use cloudgate_tenant::{Refresh, Refusal, TrustState, Verdict};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};
use time::OffsetDateTime;

#[derive(Clone, Copy, Debug)]
enum Action {
    /// `sp cert generate --apply --force`: a new key without a proof.
    GenerateApply,
    /// `sp cert renew --apply`: same key.
    Renew,
    /// `sp cert generate` + `sp cert stage`.
    Stage,
    /// `sp cert apply STAGED` (or `stage --at` coming due).
    ApplyStaged,
    /// `sp cert generate` + `sp cert apply --compromised`: the old key is stolen.
    ApplyCompromised,
    /// `tenant check` (or a running tunnel's connection) against the real SP.
    CheckOnline,
    /// The tenant does nothing for a while.
    Offline,
    /// `tenant provider refresh --thumbprint` with the SP's current thumbprint.
    RefreshByHand,
    /// The attacker presents the newest stolen key's own certificate.
    AttackerOldKey,
    /// The attacker presents a certificate of its own, with a proof signed by a stolen key.
    AttackerSuccessor,
    /// The attacker presents a certificate of its own and refuses the second connection.
    AttackerRefusesSecond,
    /// The attacker, in the middle with the newest stolen key, tells the tenant its own address
    /// as a gateway (it sticks when the tenant completes the handshake).
    AttackerTellsGateway,
    /// A tunnel connection goes to the told gateways first.
    TunnelViaTold,
    /// `tenant provider refresh --thumbprint <the SP's>` while the attacker holds the address.
    RefreshNamingSpAtAttacker,
    /// A tunnel connection reaches one of the SP's own fleet gateways the tenant was told of.
    TunnelViaToldSp,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        2 => Just(Action::GenerateApply),
        3 => Just(Action::Renew),
        4 => Just(Action::Stage),
        4 => Just(Action::ApplyStaged),
        2 => Just(Action::ApplyCompromised),
        6 => Just(Action::CheckOnline),
        3 => Just(Action::Offline),
        2 => Just(Action::RefreshByHand),
        2 => Just(Action::AttackerOldKey),
        2 => Just(Action::AttackerSuccessor),
        2 => Just(Action::AttackerRefusesSecond),
        2 => Just(Action::AttackerTellsGateway),
        3 => Just(Action::TunnelViaTold),
        1 => Just(Action::RefreshNamingSpAtAttacker),
        3 => Just(Action::TunnelViaToldSp),
    ]
}

/// A key by number, with the certificate it was introduced in.
#[derive(Clone)]
struct Key {
    id: usize,
    cert: CertificateInfo,
    pkcs8: Vec<u8>,
}

/// The reference: the SP's key changes and the tenant's trust, by key number only.
#[derive(Clone, Debug, Default)]
struct Reference {
    sp_key: usize,
    /// (from, to, proof, compromised), oldest first.
    switches: Vec<(usize, usize, bool, bool)>,
    staged: Option<(usize, usize)>,
    tenant_key: usize,
    tenant_flag: bool,
    learned: Vec<(usize, usize)>,
    /// Keys the SP marked compromised, and whether the tenant has been told since.
    stolen: Vec<usize>,
    told: Vec<usize>,
    honest: bool,
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Outcome {
    Accept,
    Refuse,
    RefuseCompromised,
}

impl Reference {
    /// Walks `links` (from, to, proof, compromised) from the trusted key to `target`.
    fn walk(&self, links: &[(usize, usize, bool, bool)], target: usize) -> Outcome {
        if self.tenant_flag {
            return Outcome::Refuse;
        }
        if target == self.tenant_key {
            return Outcome::Accept;
        }
        let mut at = self.tenant_key;
        let mut visited = vec![at];
        for _ in 0..links.len() {
            let leaving: Vec<_> = links.iter().filter(|l| l.0 == at).collect();
            if leaving.iter().any(|l| l.3) {
                return Outcome::RefuseCompromised;
            }
            match leaving.iter().find(|l| l.2 && !visited.contains(&l.1)) {
                Some(l) => {
                    at = l.1;
                    visited.push(at);
                    if at == target {
                        return Outcome::Accept;
                    }
                }
                None => return Outcome::Refuse,
            }
        }
        Outcome::Refuse
    }

    fn honest_links(&self) -> Vec<(usize, usize, bool, bool)> {
        let start = self.switches.len().saturating_sub(MAX_CHAIN_LINKS);
        let mut links = self.switches[start..].to_vec();
        if let Some((from, to)) = self.staged.filter(|s| s.0 == self.sp_key) {
            links.push((from, to, true, false));
        }
        links.extend(self.learned.iter().map(|&(f, t)| (f, t, true, false)));
        links
    }
}

/// The SP's real store, and the keys by number.
struct Sp {
    _dir: tempfile::TempDir,
    store: CertStore,
    keys: Vec<Key>,
    /// Certificate in use → its key number.
    key_of_cert: Vec<(String, usize)>,
}

fn new_key(id: usize) -> Key {
    let g = generate_self_signed(&SelfSignedRequest {
        key_type: KeyType::EcdsaP256,
        subject: cloudgate_pki::dn::SubjectName::for_licensee("Model SP"),
        sans: vec![],
        valid_days: 30,
        now: OffsetDateTime::now_utc(),
    })
    .unwrap();
    Key {
        id,
        cert: CertificateInfo::from_der(&g.cert_der).unwrap(),
        pkcs8: g.key_pkcs8_der.to_vec(),
    }
}

impl Sp {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = CertStore::new(
            Layout::new(dir.path().join("data")),
            FileOwnership::owner_only(),
        );
        let mut sp = Sp {
            _dir: dir,
            store,
            keys: Vec::new(),
            key_of_cert: Vec::new(),
        };
        let first = sp.add_new_key();
        sp.store.apply(&first).unwrap();
        sp
    }

    fn add(&mut self, cert: &CertificateInfo, pkcs8: &[u8], key: usize) -> StoredCertificate {
        self.key_of_cert.push((cert.fingerprints.sha256_hex(), key));
        self.store
            .add(NewEntry {
                cert_der: &cert.der,
                key_pkcs8_der: pkcs8,
                chain: Vec::new(),
                friendly_name: format!("key {key}"),
                source: Source::Generated,
            })
            .unwrap()
    }

    fn add_new_key(&mut self) -> StoredCertificate {
        let k = new_key(self.keys.len());
        self.keys.push(k.clone());
        self.add(&k.cert, &k.pkcs8, k.id)
    }

    fn current(&self) -> StoredCertificate {
        self.store.applied().unwrap().unwrap()
    }

    fn published(&self) -> PublishedTrust {
        self.store
            .rollover_history()
            .unwrap()
            .published(&self.current().info)
    }

    fn key_of(&self, cert: &CertificateInfo) -> usize {
        self.key_of_cert
            .iter()
            .find(|(sha, _)| *sha == cert.fingerprints.sha256_hex())
            .map(|(_, k)| *k)
            .unwrap_or(usize::MAX)
    }
}

/// The tenant side: the state machine as the session drives it.
fn present(
    state: &mut TrustState,
    presented: &CertificateInfo,
    published: Option<&PublishedTrust>,
) -> Verdict {
    let verdict = state.judge(presented, published);
    if let Some(next) = state.after(&verdict) {
        *state = next;
    }
    // The session learns from the document it fetched once the connection is trusted.
    if matches!(
        verdict,
        Verdict::Pinned | Verdict::Renewed(_) | Verdict::RolledOver(_)
    ) && let Some(published) = published
        && let Some(next) = state.learn(published)
    {
        *state = next;
    }
    verdict
}

fn outcome(v: &Verdict) -> Outcome {
    match v {
        Verdict::Pinned | Verdict::Renewed(_) | Verdict::RolledOver(_) => Outcome::Accept,
        Verdict::Refused(Refusal::Compromised) => Outcome::RefuseCompromised,
        Verdict::Refused(_) => Outcome::Refuse,
    }
}

/// The attacker's certificate with a proof from stolen key `from`.
fn forged_successor(from: &Key, id: usize) -> (Key, PublishedTrust) {
    let y = new_key(id);
    let link = ChainLink {
        from_spki_sha256: upper_hex(&from.cert.fingerprints.spki_sha256),
        certificate_pem: cloudgate_pki::pem::encode_certificate(&y.cert.der),
        proof: Some(
            sign_rollover(&from.cert, &from.pkcs8, &y.cert, OffsetDateTime::now_utc()).unwrap(),
        ),
        compromised: false,
    };
    (
        y,
        PublishedTrust {
            successor: Some(link.clone()),
            chain: vec![link],
        },
    )
}

fn run(actions: &[Action]) {
    let mut sp = Sp::new();
    let mut state = TrustState::verified_by_hand(TrustMode::Pinned, sp.current().info);
    let mut r = Reference {
        honest: true,
        ..Default::default()
    };
    let mut attacker_ids = 1000;
    // The stolen key the attacker's told gateway presents, while the tenant keeps it.
    let mut attacker_told: Option<usize> = None;
    for (step, a) in actions.iter().enumerate() {
        macro_rules! at {
            ($what:expr) => {
                format!("step {step} {a:?}: {}; reference {r:?}", $what)
            };
        }
        match a {
            Action::GenerateApply => {
                let e = sp.add_new_key();
                sp.store.apply(&e).unwrap();
                let to = sp.keys.len() - 1;
                r.switches.push((r.sp_key, to, false, false));
                r.sp_key = to;
                r.staged = None;
                r.honest = false;
            }
            Action::Renew => {
                let cur = sp.current();
                let key = sp.store.load_private_key(&cur).unwrap();
                let renewed = cloudgate_pki::renew_self_signed(
                    &cur.info,
                    &key,
                    30,
                    OffsetDateTime::now_utc(),
                )
                .unwrap();
                let info = CertificateInfo::from_der(&renewed.cert_der).unwrap();
                let e = sp.add(&info, &renewed.key_pkcs8_der, r.sp_key);
                sp.store.apply(&e).unwrap();
            }
            Action::Stage => {
                let e = sp.add_new_key();
                sp.store.stage(&e, None).unwrap();
                r.staged = Some((r.sp_key, sp.keys.len() - 1));
            }
            Action::ApplyStaged => {
                let Some((_, to)) = r.staged else { continue };
                let staged = sp.store.rollover_history().unwrap().staged.unwrap();
                let e = sp.store.find(&staged.to_sha256).unwrap();
                sp.store.apply(&e).unwrap();
                r.switches.push((r.sp_key, to, true, false));
                r.sp_key = to;
                r.staged = None;
            }
            Action::ApplyCompromised => {
                let e = sp.add_new_key();
                sp.store.apply_compromised(&e).unwrap();
                let to = sp.keys.len() - 1;
                r.switches.push((r.sp_key, to, false, true));
                r.stolen.push(r.sp_key);
                r.sp_key = to;
                r.staged = None;
                r.honest = false;
            }
            Action::CheckOnline => {
                let presented = sp.current().info;
                let published = sp.published();
                let expected = r.walk(&r.honest_links(), r.sp_key);
                let got = outcome(&present(&mut state, &presented, Some(&published)));
                assert_eq!(
                    got,
                    expected,
                    "{}",
                    at!("implementation and reference differ")
                );
                match expected {
                    Outcome::Accept => {
                        // The first contact's list replaces the told one: the SP's gateways
                        // tell only addresses that present its certificate.
                        attacker_told = None;
                        if r.sp_key != r.tenant_key {
                            r.learned.clear();
                        }
                        r.tenant_key = r.sp_key;
                        if let Some((from, to)) = r.staged.filter(|s| s.0 == r.tenant_key)
                            && !r.learned.contains(&(from, to))
                        {
                            r.learned = vec![(from, to)];
                        }
                    }
                    Outcome::RefuseCompromised => {
                        r.tenant_flag = true;
                        r.told = r.stolen.clone();
                    }
                    Outcome::Refuse => {}
                }
                if r.honest {
                    assert_eq!(
                        got,
                        Outcome::Accept,
                        "{}",
                        at!("an honest sequence refused")
                    );
                }
                assert_eq!(
                    sp.key_of(&state.pinned),
                    r.tenant_key,
                    "{}",
                    at!("pinned key")
                );
            }
            Action::Offline => {}
            Action::RefreshByHand => {
                // A refresh forgets the told gateways with everything learned before.
                attacker_told = None;
                state = TrustState::verified_by_hand(TrustMode::Pinned, sp.current().info);
                r.tenant_key = r.sp_key;
                r.tenant_flag = false;
                r.learned.clear();
                r.told = r.stolen.clone();
            }
            Action::AttackerTellsGateway => {
                let Some(&stolen) = r.stolen.last() else {
                    continue;
                };
                // Told only over a handshake the tenant trusts.
                let verdict = state.judge(&sp.keys[stolen].cert, None);
                if outcome(&verdict) == Outcome::Accept {
                    attacker_told = Some(stolen);
                }
            }
            Action::TunnelViaTold => {
                let Some(stolen) = attacker_told else {
                    continue;
                };
                let before = state.clone();
                // With the flag set, nothing is attempted at all.
                if state.compromised {
                    continue;
                }
                let verdict = state.judge(&sp.keys[stolen].cert, Some(&PublishedTrust::default()));
                let learned: Vec<_> = r
                    .learned
                    .iter()
                    .map(|&(f, t)| (f, t, true, false))
                    .collect();
                let expected = match r.walk(&learned, stolen) {
                    Outcome::Accept => Outcome::Accept,
                    _ => Outcome::Refuse,
                };
                let got = match state.after_told(&verdict) {
                    Some(next) => {
                        state = next;
                        Outcome::Accept
                    }
                    None if outcome(&verdict) == Outcome::Accept => Outcome::Accept,
                    None => {
                        attacker_told = None;
                        Outcome::Refuse
                    }
                };
                assert_eq!(
                    got,
                    expected,
                    "{}",
                    at!("told gateway: implementation and reference differ")
                );
                assert_eq!(
                    state.compromised,
                    before.compromised,
                    "{}",
                    at!("a told gateway changed the alarm")
                );
                if r.told.contains(&stolen) {
                    assert_ne!(
                        got,
                        Outcome::Accept,
                        "{}",
                        at!("the attacker's told gateway was trusted after the tenant was told")
                    );
                    assert_eq!(
                        state.pinned,
                        before.pinned,
                        "{}",
                        at!("the told gateway moved the pin")
                    );
                }
                if got == Outcome::Accept {
                    if r.tenant_key != sp.key_of(&state.pinned) {
                        r.learned.clear();
                    }
                    r.tenant_key = sp.key_of(&state.pinned);
                }
            }
            Action::TunnelViaToldSp => {
                if state.compromised {
                    continue;
                }
                let before = state.clone();
                let verdict = state.judge(&sp.current().info, Some(&sp.published()));
                // Followed along proofs as anywhere; any refusal (a compromise marker included)
                // only drops that gateway: the alarm is the first contact's to raise.
                let expected = match r.walk(&r.honest_links(), r.sp_key) {
                    Outcome::Accept => Outcome::Accept,
                    _ => Outcome::Refuse,
                };
                let got = match state.after_told(&verdict) {
                    Some(next) => {
                        state = next;
                        Outcome::Accept
                    }
                    None if outcome(&verdict) == Outcome::Accept => Outcome::Accept,
                    None => Outcome::Refuse,
                };
                assert_eq!(
                    got,
                    expected,
                    "{}",
                    at!("the SP's told gateway: implementation and reference differ")
                );
                assert_eq!(
                    state.compromised,
                    before.compromised,
                    "{}",
                    at!("a told gateway changed the alarm")
                );
                if got == Outcome::Accept {
                    if r.tenant_key != r.sp_key {
                        r.learned.clear();
                    }
                    // A tunnel connection learns nothing: announced successors are the
                    // check's to learn.
                    r.tenant_key = r.sp_key;
                }
            }
            Action::RefreshNamingSpAtAttacker => {
                let Some(&stolen) = r.stolen.last() else {
                    continue;
                };
                let named = cloudgate_pki::fingerprint::FingerprintQuery::parse_whole(
                    &sp.current().info.fingerprints.thumbprint(),
                )
                .unwrap();
                let refreshed = state.refresh(&sp.keys[stolen].cert, Some(&named));
                assert_eq!(
                    refreshed,
                    Refresh::NotWhatWasNamed,
                    "{}",
                    at!("refresh naming the SP's certificate accepted the attacker's")
                );
            }
            Action::AttackerOldKey | Action::AttackerSuccessor | Action::AttackerRefusesSecond => {
                let Some(&stolen) = r.stolen.last() else {
                    continue;
                };
                let from = sp.keys[stolen].clone();
                let before = state.clone();
                let (presented, published, expected) = match a {
                    Action::AttackerOldKey => {
                        // It publishes nothing, so only what the tenant learned can lead there
                        // (a successor it learned while that key was staged, before the theft
                        // was known: inherent, as the thief holds that key).
                        let learned: Vec<_> = r
                            .learned
                            .iter()
                            .map(|&(f, t)| (f, t, true, false))
                            .collect();
                        let expected = r.walk(&learned, stolen);
                        (from.cert.clone(), Some(PublishedTrust::default()), expected)
                    }
                    Action::AttackerSuccessor => {
                        attacker_ids += 1;
                        let (y, published) = forged_successor(&from, attacker_ids);
                        sp.key_of_cert
                            .push((y.cert.fingerprints.sha256_hex(), attacker_ids));
                        // What the tenant walks: the attacker's link first, then what it learned.
                        let mut links = vec![(stolen, attacker_ids, true, false)];
                        links.extend(r.learned.iter().map(|&(f, t)| (f, t, true, false)));
                        (y.cert, Some(published), r.walk(&links, attacker_ids))
                    }
                    _ => {
                        attacker_ids += 1;
                        (new_key(attacker_ids).cert, None, Outcome::Refuse)
                    }
                };
                let got = outcome(&present(&mut state, &presented, published.as_ref()));
                assert_eq!(
                    got,
                    expected,
                    "{}",
                    at!("attacker: implementation and reference differ")
                );
                if r.told.contains(&stolen) {
                    assert_ne!(
                        got,
                        Outcome::Accept,
                        "{}",
                        at!("the attacker was accepted after the tenant was told")
                    );
                    assert_eq!(
                        state.pinned,
                        before.pinned,
                        "{}",
                        at!("the attacker moved the pin")
                    );
                }
                if got == Outcome::Accept {
                    // The tenant could not know: it now trusts the attacker's key, and only the
                    // SP's alarm (or a manual verification) brings it back.
                    if r.tenant_key != sp.key_of(&state.pinned) {
                        r.learned.clear();
                    }
                    r.tenant_key = sp.key_of(&state.pinned);
                }
            }
        }
    }
    // Reconcile: check the real SP; verify by hand if refused; then trust holds and the
    // attacker is refused.
    let current = sp.current().info;
    let v = present(&mut state, &current, Some(&sp.published()));
    if outcome(&v) != Outcome::Accept {
        state = TrustState::verified_by_hand(TrustMode::Pinned, current.clone());
    }
    assert_eq!(
        outcome(&present(&mut state, &current, Some(&sp.published()))),
        Outcome::Accept
    );
    for &stolen in &r.stolen {
        let from = sp.keys[stolen].clone();
        assert_eq!(
            outcome(&state.judge(&from.cert, None)),
            Outcome::Refuse,
            "old key {stolen} after reconciling"
        );
        let (y, published) = forged_successor(&from, 9999);
        assert_ne!(
            outcome(&state.judge(&y.cert, Some(&published))),
            Outcome::Accept,
            "a successor signed by stolen key {stolen} after reconciling"
        );
    }
}

#[test]
fn the_trust_state_machine_matches_the_reference_model() {
    let cases: u32 = std::env::var("CLOUDGATE_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48);
    let seed: u64 = std::env::var("CLOUDGATE_MODEL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x00c1_0d6a_7e00_0014);
    let config = Config {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(seed),
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&proptest::collection::vec(action(), 1..28), |actions| {
        run(&actions);
        Ok(())
    });
    if let Err(e) = result {
        panic!("the model test failed (seed {seed}; rerun with CLOUDGATE_MODEL_SEED={seed}): {e}");
    }
    eprintln!("model test: {cases} sequences, seed {seed}");
}
