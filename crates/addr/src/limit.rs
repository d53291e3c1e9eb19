//! Connection slots per source address, for the gateway's and the console's listeners: one
//! stranger opening connections (finished or half-open) cannot take every slot of the
//! listener-wide limit from the tenants or the administrators.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Counts open connections per source address.
#[derive(Clone)]
pub struct PerAddressLimit {
    max: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One connection's share of its address's count; released when dropped.
pub struct AddressSlot {
    ip: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PerAddressLimit {
    /// At most `max` connections open from one address.
    pub fn new(max: usize) -> Self {
        PerAddressLimit {
            max,
            open: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// A slot for a new connection from `ip`, or `None` when that address holds `max` already.
    pub fn try_acquire(&self, ip: IpAddr) -> Option<AddressSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            ip,
            open: self.open.clone(),
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            // Forget addresses with nothing open, so the map holds only live connections.
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_cannot_take_more_than_its_share() {
        let limit = PerAddressLimit::new(2);
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [127, 0, 0, 2].into();
        let s1 = limit.try_acquire(a).unwrap();
        let _s2 = limit.try_acquire(a).unwrap();
        assert!(limit.try_acquire(a).is_none());
        assert!(limit.try_acquire(b).is_some());
        drop(s1);
        assert!(limit.try_acquire(a).is_some());
    }

    #[test]
    fn released_addresses_are_forgotten() {
        let limit = PerAddressLimit::new(1);
        for i in 0..100u8 {
            drop(limit.try_acquire([10, 0, 0, i].into()).unwrap());
        }
        assert!(limit.open.lock().unwrap().is_empty());
    }
}
