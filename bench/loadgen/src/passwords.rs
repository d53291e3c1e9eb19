//! Password checks on the gateway, several at once: enrollments of new identities into one
//! tenant, some with the right password and some with a wrong one. Each makes the gateway run
//! its password hash (argon2, 19 MiB of work area); the benchmark reads the gateway's memory
//! before and after.

use std::sync::Arc;

use anyhow::bail;
use tokio::sync::Semaphore;

use crate::conn::{enroll_once, source};
use crate::tls::Identity;

/// What a run of checks got back.
#[derive(Debug, Default)]
pub struct Report {
    /// Enrollments the gateway accepted (right password).
    pub enrolled: usize,
    /// Enrollments it refused as a wrong password (401).
    pub refused: usize,
    /// Tries answered "every password-check slot is busy" (503) and made again.
    pub busy: usize,
}

/// How many checks, how many of them wrong, and how they are spread.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Checks in all.
    pub count: usize,
    /// Of them, with a wrong password.
    pub wrong: usize,
    /// Checks in flight at once.
    pub parallel: usize,
    /// Loopback source addresses they come from.
    pub sources: usize,
}

/// `plan.count` enrollments into `tenant`, `plan.parallel` at a time, spread over
/// `plan.sources` loopback addresses; `plan.wrong` of them, spread evenly, with a wrong
/// password. Any answer other than the expected one (200 for the right password, 401 for a
/// wrong one) is an error: a throttled check (429) would not have run the hash the benchmark
/// means to measure. A check answered "busy" (503: the gateway runs only a few hashes at once)
/// is tried again shortly.
pub async fn run(
    target: std::net::SocketAddr,
    pin: [u8; 32],
    tenant: &str,
    password: &str,
    plan: Plan,
) -> anyhow::Result<Report> {
    let Plan {
        count,
        wrong,
        parallel,
        sources,
    } = plan;
    if wrong > count {
        bail!("--wrong {wrong} is more than --count {count}");
    }
    let gate = Arc::new(Semaphore::new(parallel.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count {
        let is_wrong = is_wrong(i, wrong, count);
        let password = if is_wrong {
            format!("{password} but wrong")
        } else {
            password.to_string()
        };
        let tenant = tenant.to_string();
        let gate = gate.clone();
        tasks.spawn(async move {
            let _slot = gate.acquire_owned().await?;
            let mut busy = 0;
            loop {
                let status = one(target, pin, &tenant, &password, i, sources).await?;
                match (is_wrong, status) {
                    (false, 200) | (true, 401) => return Ok((is_wrong, busy)),
                    (_, 503) if busy < 1000 => {
                        busy += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    }
                    _ => bail!("check {i} (wrong password: {is_wrong}) was answered {status}"),
                }
            }
        });
    }
    let mut report = Report::default();
    while let Some(done) = tasks.join_next().await {
        let (is_wrong, busy) = done??;
        report.busy += busy;
        if is_wrong {
            report.refused += 1;
        } else {
            report.enrolled += 1;
        }
    }
    Ok(report)
}

/// Whether the `i`-th of `count` checks is one of the `wrong` ones: exactly `wrong` of them,
/// spread evenly (`i × wrong mod count` falls below `wrong` for exactly `wrong` values of `i`).
fn is_wrong(i: usize, wrong: usize, count: usize) -> bool {
    (i * wrong) % count.max(1) < wrong
}

/// One enrollment of a fresh identity; the HTTP status of the answer.
async fn one(
    target: std::net::SocketAddr,
    pin: [u8; 32],
    tenant: &str,
    password: &str,
    i: usize,
    sources: usize,
) -> anyhow::Result<u16> {
    let id = Identity::generate(&format!("check{i}"))?;
    let answer = enroll_once(target, source(i, sources), pin, &id, tenant, password).await?;
    let status = answer
        .strip_prefix(b"HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| std::str::from_utf8(code).ok())
        .and_then(|code| code.parse().ok());
    match status {
        Some(code) => Ok(code),
        None => bail!(
            "check {i}: not an HTTP answer: {}",
            String::from_utf8_lossy(&answer[..answer.len().min(80)])
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::is_wrong;

    #[test]
    fn exactly_the_asked_number_of_checks_is_wrong() {
        for count in 1..60 {
            for wrong in 0..=count {
                let got = (0..count).filter(|&i| is_wrong(i, wrong, count)).count();
                assert_eq!(got, wrong, "{wrong} of {count}");
            }
        }
    }
}
