//! Where the tenant keeps the gateway's TLS 1.3 session tickets between connections.
//!
//! rustls' own store keeps at most 8 tickets per server, and a ticket is used once. A busy
//! `tenant tunnel` opens many connections at once (a backup job runs parallel streams): with
//! 16 at once, the benchmark saw the store run dry in bursts and 10–15% of connections fall
//! back to a full handshake although every one of them had brought home two tickets. This store
//! keeps up to [`TICKETS_PER_SERVER`] per server; the rest (TLS 1.2 sessions, key-exchange
//! hints) is rustls' own store.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use rustls::NamedGroup;
use rustls::client::{
    ClientSessionMemoryCache, ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue,
};
use rustls::pki_types::ServerName;

/// TLS 1.3 tickets kept per server: room for a burst of that many connections at once to all
/// resume. rustls keeps a copy of the server's certificate chain with each ticket, so a ticket
/// is 1–2 KiB and a full store a few hundred KiB.
pub const TICKETS_PER_SERVER: usize = 128;

/// Servers remembered by one store (a store serves one provider's gateway; a few spare slots
/// cover a gateway reached under more than one name).
const SERVERS: usize = 4;

/// Each remembered server's tickets, oldest server and oldest ticket first.
type Servers = VecDeque<(ServerName<'static>, VecDeque<Tls13ClientSessionValue>)>;

/// A session store with room for a burst of resumptions; see the module documentation.
#[derive(Debug)]
pub struct TicketStore {
    tls13: Mutex<Servers>,
    other: ClientSessionMemoryCache,
}

impl TicketStore {
    /// An empty store, shared by every connection of one client configuration.
    pub fn new() -> Arc<Self> {
        Arc::new(TicketStore {
            tls13: Mutex::new(VecDeque::with_capacity(SERVERS)),
            other: ClientSessionMemoryCache::new(SERVERS),
        })
    }

    /// How many TLS 1.3 tickets are kept for `name`.
    pub fn tickets_for(&self, name: &ServerName<'_>) -> usize {
        self.lock()
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, t)| t.len())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Servers> {
        // A panic while holding the lock cannot leave the queues inconsistent (each operation
        // is one push or pop), so a poisoned lock is still usable.
        self.tls13.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ClientSessionStore for TicketStore {
    fn set_kx_hint(&self, name: ServerName<'static>, group: NamedGroup) {
        self.other.set_kx_hint(name, group);
    }

    fn kx_hint(&self, name: &ServerName<'_>) -> Option<NamedGroup> {
        self.other.kx_hint(name)
    }

    fn set_tls12_session(&self, name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.other.set_tls12_session(name, value);
    }

    fn tls12_session(&self, name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.other.tls12_session(name)
    }

    fn remove_tls12_session(&self, name: &ServerName<'static>) {
        self.other.remove_tls12_session(name);
    }

    fn insert_tls13_ticket(&self, name: ServerName<'static>, value: Tls13ClientSessionValue) {
        let mut servers = self.lock();
        let i = match servers.iter().position(|(n, _)| *n == name) {
            Some(i) => i,
            None => {
                if servers.len() == SERVERS {
                    servers.pop_front();
                }
                servers.push_back((name, VecDeque::new()));
                servers.len() - 1
            }
        };
        let tickets = &mut servers[i].1;
        if tickets.len() == TICKETS_PER_SERVER {
            tickets.pop_front();
        }
        tickets.push_back(value);
    }

    fn take_tls13_ticket(&self, name: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        // The newest ticket: it has the longest left to live.
        self.lock()
            .iter_mut()
            .find(|(n, _)| n == name)
            .and_then(|(_, t)| t.pop_back())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use tokio::io::AsyncReadExt as _;

    use crate::client::GatewayClient;
    use crate::test_server::tls_server;

    async fn one_byte(
        mut tls: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    ) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
        let mut b = [0u8; 1];
        tls.read_exact(&mut b).await.unwrap();
        tls
    }

    #[tokio::test]
    async fn a_burst_of_connections_all_resume() {
        let (port, pin) = tls_server(Some(b"x")).await;
        let client = GatewayClient::pinned("127.0.0.1", port, vec![pin], None).unwrap();
        // Sixteen connections one after the other bring home two tickets each.
        for _ in 0..16 {
            let tls = one_byte(client.connect().await.ok().unwrap()).await;
            drop(tls);
        }
        // Then sixteen at once, all open together: every one must find a ticket (rustls' own
        // store keeps eight, so half of these were full handshakes before).
        let mut open = Vec::new();
        for _ in 0..16 {
            open.push(client.connect().await.ok().unwrap());
        }
        let resumed = open
            .iter()
            .filter(|t| t.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed))
            .count();
        assert_eq!(resumed, 16);
    }

    #[test]
    fn unknown_servers_have_no_tickets() {
        let store = TicketStore::new();
        let name = ServerName::try_from("gateway.example").unwrap();
        assert_eq!(store.tickets_for(&name), 0);
        assert!(store.take_tls13_ticket(&name).is_none());
    }
}
