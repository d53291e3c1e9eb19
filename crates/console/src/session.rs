//! Console sessions: a random id in an `HttpOnly; Secure; SameSite=Strict` cookie, the
//! administrator it belongs to and the CSRF token its forms carry. Kept in memory (a restart
//! logs everyone out), ended after [`IDLE`] without a request or [`ABSOLUTE`] after login,
//! whichever comes first, and at logout.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A session unused this long ends.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// A session ends this long after login, used or not.
pub const ABSOLUTE: Duration = Duration::from_secs(12 * 3600);
/// Most sessions kept at once; the least recently used goes first.
const MAX_SESSIONS: usize = 1024;
/// The cookie's name.
pub const COOKIE: &str = "cloudgate_session";

/// A live session, as a request sees it.
#[derive(Clone, Debug)]
pub struct Session {
    /// Its id (the cookie's value).
    pub id: String,
    /// The administrator.
    pub admin: String,
    /// The token every form and every changing API call with this session must carry.
    pub csrf: String,
    /// A digest of the administrator's password hash at login: a replaced password ends it.
    password_stamp: [u8; 32],
}

struct Entry {
    admin: String,
    csrf: String,
    password_stamp: [u8; 32],
    created: Instant,
    last_used: Instant,
}

/// The sessions of one console.
#[derive(Default)]
pub struct Sessions {
    live: Mutex<HashMap<String, Entry>>,
}

/// The system's random generator failed: no session can be started safely.
#[derive(Debug, thiserror::Error)]
#[error("the system's random generator failed; no session was started")]
pub struct NoRandomness;

/// 32 random bytes, hex: a session id or a CSRF token.
pub(crate) fn random_token() -> Result<String, NoRandomness> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| NoRandomness)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl Sessions {
    /// Starts a session for `admin`, whose stored password hash is `password_hash` now.
    pub fn start(&self, admin: &str, password_hash: &str) -> Result<Session, NoRandomness> {
        let now = Instant::now();
        let session = Session {
            id: random_token()?,
            admin: admin.to_string(),
            csrf: random_token()?,
            password_stamp: stamp(password_hash),
        };
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.retain(|_, e| alive(e, now));
        if live.len() >= MAX_SESSIONS
            && let Some(oldest) = live
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(id, _)| id.clone())
        {
            live.remove(&oldest);
        }
        live.insert(
            session.id.clone(),
            Entry {
                admin: session.admin.clone(),
                csrf: session.csrf.clone(),
                password_stamp: session.password_stamp,
                created: now,
                last_used: now,
            },
        );
        Ok(session)
    }

    /// The live session `id`, marked used; `None` when there is none or it timed out.
    pub fn touch(&self, id: &str) -> Option<Session> {
        self.touch_at(id, Instant::now())
    }

    /// [`Sessions::touch`] as of `now`.
    fn touch_at(&self, id: &str, now: Instant) -> Option<Session> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let entry = live.get_mut(id)?;
        if !alive(entry, now) {
            live.remove(id);
            return None;
        }
        entry.last_used = now;
        Some(Session {
            id: id.to_string(),
            admin: entry.admin.clone(),
            csrf: entry.csrf.clone(),
            password_stamp: entry.password_stamp,
        })
    }

    /// Ends a session.
    pub fn end(&self, id: &str) {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// Ends every session of `admin` (removed, or a new password).
    pub fn end_all_of(&self, admin: &str) {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, e| e.admin != admin);
    }
}

fn stamp(password_hash: &str) -> [u8; 32] {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, password_hash.as_bytes())
        .as_ref()
        .try_into()
        .unwrap_or([0; 32])
}

/// Whether `s` was opened with the password whose stored hash is `password_hash` now.
pub fn same_password(s: &Session, password_hash: &str) -> bool {
    s.password_stamp == stamp(password_hash)
}

fn alive(e: &Entry, now: Instant) -> bool {
    now.duration_since(e.last_used) < IDLE && now.duration_since(e.created) < ABSOLUTE
}

/// The `Set-Cookie` value that starts a session.
pub fn set_cookie(id: &str) -> String {
    format!(
        "{COOKIE}={id}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
        ABSOLUTE.as_secs()
    )
}

/// The `Set-Cookie` value that ends one.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0")
}

/// The session id a request's `Cookie` headers carry.
pub fn cookie_of(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_knows_the_password_it_was_opened_with() {
        let s = Sessions::default();
        let a = s.start("alice", "$argon2id$old").unwrap();
        assert!(same_password(&a, "$argon2id$old"));
        assert!(!same_password(&a, "$argon2id$new"));
    }

    #[test]
    fn a_session_lives_until_it_ends() {
        let s = Sessions::default();
        let a = s.start("alice", "h1").unwrap();
        assert_eq!(a.id.len(), 64);
        assert_ne!(a.id, a.csrf);
        let seen = s.touch(&a.id).unwrap();
        assert_eq!((seen.admin.as_str(), seen.csrf), ("alice", a.csrf.clone()));
        assert!(s.touch("nope").is_none());
        let b = s.start("bob", "h2").unwrap();
        s.end_all_of("alice");
        assert!(s.touch(&a.id).is_none());
        assert!(s.touch(&b.id).is_some());
        s.end(&b.id);
        assert!(s.touch(&b.id).is_none());
    }

    #[test]
    fn a_session_ends_when_idle_and_at_its_absolute_limit() {
        let s = Sessions::default();
        let start = Instant::now();
        let idle = s.start("alice", "h1").unwrap();
        assert!(
            s.touch_at(&idle.id, start + IDLE - Duration::from_secs(1))
                .is_some()
        );
        // Used a moment ago: the idle clock started again.
        assert!(
            s.touch_at(&idle.id, start + 2 * IDLE - Duration::from_secs(2))
                .is_some()
        );
        assert!(
            s.touch_at(&idle.id, start + 3 * IDLE).is_none(),
            "idle too long"
        );
        assert!(s.touch_at(&idle.id, start).is_none(), "and gone for good");
        let busy = s.start("bob", "h2").unwrap();
        let mut t = start;
        while t + IDLE / 2 < start + ABSOLUTE {
            t += IDLE / 2;
            assert!(s.touch_at(&busy.id, t).is_some());
        }
        assert!(
            s.touch_at(&busy.id, start + ABSOLUTE - Duration::from_secs(1))
                .is_some()
        );
        assert!(
            s.touch_at(&busy.id, start + ABSOLUTE + Duration::from_secs(1))
                .is_none(),
            "used all along, still ends after the absolute limit"
        );
    }

    #[test]
    fn the_cookie_is_found_among_others_and_is_strict() {
        let mut h = axum::http::HeaderMap::new();
        h.append("cookie", "a=1; cloudgate_session=abc; b=2".parse().unwrap());
        assert_eq!(cookie_of(&h).as_deref(), Some("abc"));
        let c = set_cookie("abc");
        for part in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
            assert!(c.contains(part), "{c}");
        }
    }
}
