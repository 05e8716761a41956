//! A loopback fake SMS provider for the kill tests, and the bookkeeping that checks them.
//!
//! Protocol (one line each way, persistent connections): the child sends
//! `SEND <instance> r<reply>a<attempt>\n`; the provider records the acceptance and answers
//! `OK <provider id>\n`. The provider id names the reply, the attempt and the child instance, so
//! the final check can tell which acceptance the database committed and which ones it never
//! heard of (the kill fell between the provider's acceptance and the commit).
//!
//! A child started with `KILL_CHILD_LOOKUP=1` may also ask `FIND <instance> r<reply>a<attempt>\n`
//! (has an earlier attempt of this reply been accepted?), answered `OK <provider id>\n` with the
//! first acceptance of that reply, or `NONE\n`: the lookup a provider such as Twilio offers by
//! listing its messages.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One message the provider accepted.
#[derive(Clone, Debug)]
pub struct Acceptance {
    pub reply: u64,
    pub attempt: u32,
    pub instance: u32,
    pub provider_id: String,
}

/// The fake provider: a thread per connection on 127.0.0.1.
#[derive(Clone)]
pub struct FakeProvider {
    addr: SocketAddr,
    accepted: Arc<Mutex<Vec<Acceptance>>>,
}

impl FakeProvider {
    pub fn start() -> Self {
        Self::start_answering_after(std::time::Duration::ZERO)
    }

    /// A provider that waits `delay` between accepting a message and answering: a kill during
    /// a send then almost always falls between the acceptance and the child's commit.
    pub fn start_answering_after(delay: std::time::Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let acc = accepted.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let acc = acc.clone();
                std::thread::spawn(move || serve(conn, &acc, delay));
            }
        });
        FakeProvider { addr, accepted }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn accepted(&self) -> Vec<Acceptance> {
        self.accepted.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.accepted.lock().unwrap().len()
    }
}

fn serve(conn: TcpStream, accepted: &Mutex<Vec<Acceptance>>, delay: std::time::Duration) {
    let _ = conn.set_nodelay(true);
    let Ok(mut out) = conn.try_clone() else {
        return;
    };
    let mut lines = BufReader::new(conn);
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        if let ["FIND", instance, client_ref] = parts.as_slice() {
            let Some((_, reply, _)) = parse(instance, client_ref) else {
                let _ = out.write_all(b"ERR bad request\n");
                continue;
            };
            let found = accepted
                .lock()
                .unwrap()
                .iter()
                .find(|a| a.reply == reply)
                .map(|a| a.provider_id.clone());
            let answer = match found {
                Some(id) => format!("OK {id}\n"),
                None => "NONE\n".to_owned(),
            };
            if out.write_all(answer.as_bytes()).is_err() {
                return;
            }
            continue;
        }
        let parsed = match parts.as_slice() {
            ["SEND", instance, client_ref] => parse(instance, client_ref),
            _ => None,
        };
        let Some((instance, reply, attempt)) = parsed else {
            let _ = out.write_all(b"ERR bad request\n");
            continue;
        };
        let provider_id = format!("SM{reply}a{attempt}i{instance}");
        // Accepted (and billed) from here on, whatever the child does next.
        accepted.lock().unwrap().push(Acceptance {
            reply,
            attempt,
            instance,
            provider_id: provider_id.clone(),
        });
        std::thread::sleep(delay);
        if out
            .write_all(format!("OK {provider_id}\n").as_bytes())
            .is_err()
        {
            return;
        }
    }
}

fn parse(instance: &str, client_ref: &str) -> Option<(u32, u64, u32)> {
    let instance = instance.parse().ok()?;
    let (reply, attempt) = client_ref.strip_prefix('r')?.split_once('a')?;
    Some((instance, reply.parse().ok()?, attempt.parse().ok()?))
}

/// The outcome of a kill test, checked against the database's final state.
#[derive(Debug)]
pub struct Verdict {
    pub replies: usize,
    pub acceptances: usize,
    /// Acceptances the database never committed (extra sends).
    pub duplicates: usize,
    /// Replies delivered more than once.
    pub replies_duplicated: usize,
    /// Uncommitted acceptances per child instance.
    pub uncommitted_by_instance: BTreeMap<u32, usize>,
}

/// Check `accepted` against the committed provider id of each reply (`committed[id]`).
///
/// Panics when a reply was never delivered, when the database committed an id the provider
/// never issued, or when a reply was accepted twice under the same attempt.
pub fn verdict(accepted: &[Acceptance], committed: &HashMap<u64, String>) -> Verdict {
    let mut by_reply: HashMap<u64, Vec<&Acceptance>> = HashMap::new();
    for a in accepted {
        by_reply.entry(a.reply).or_default().push(a);
    }
    let mut duplicates = 0;
    let mut replies_duplicated = 0;
    let mut uncommitted_by_instance = BTreeMap::new();
    for (id, provider_id) in committed {
        let acc = by_reply
            .get(id)
            .unwrap_or_else(|| panic!("reply {id} was never delivered"));
        assert!(
            acc.iter().any(|a| &a.provider_id == provider_id),
            "reply {id}: the database committed {provider_id}, which the provider never issued"
        );
        let mut attempts: Vec<u32> = acc.iter().map(|a| a.attempt).collect();
        attempts.sort_unstable();
        attempts.dedup();
        assert_eq!(
            attempts.len(),
            acc.len(),
            "reply {id} was sent twice under one claim: {acc:?}"
        );
        if acc.len() > 1 {
            replies_duplicated += 1;
        }
        for a in acc.iter().filter(|a| &a.provider_id != provider_id) {
            duplicates += 1;
            *uncommitted_by_instance.entry(a.instance).or_insert(0) += 1;
        }
    }
    for id in by_reply.keys() {
        assert!(
            committed.contains_key(id),
            "the provider accepted reply {id}, which was never scheduled"
        );
    }
    Verdict {
        replies: committed.len(),
        acceptances: accepted.len(),
        duplicates,
        replies_duplicated,
        uncommitted_by_instance,
    }
}
