//! A texted number is gone from the database *file* after the send, not only from its row: the
//! raw bytes of the database and of its WAL are searched for the number's digits after the send
//! and a purge (which checkpoints and truncates the WAL), on every configuration that writes
//! differently (one write at a time, group commit, no background checkpointer).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use antirelou_core::privacy::SenderHash;
use antirelou_core::store::{NewReply, ReplyKind, ReplyQueue, TerminalState};
use antirelou_core::{PhoneNumber, Timestamp};
use antirelou_sqlite::{SqliteConfig, SqliteStore};

/// Him, in E.164. His national significant number (`612345678`) is in every form a number
/// could be written in (`+33612345678`, `33612345678`, `0612345678`), so it is what is searched.
const HIM: &str = "+33612345678";
const HIS_DIGITS: &[u8] = b"612345678";
/// Someone whose reply is still pending: his number must still be there (the search works).
const OTHER: &str = "+33698765432";
const OTHER_DIGITS: &[u8] = b"698765432";

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "antirelou-erase-{tag}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Whether `digits` appear in the database file or its WAL (and in which).
fn found_in(db: &Path, digits: &[u8]) -> Vec<&'static str> {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    let mut out = Vec::new();
    if contains(&std::fs::read(db).unwrap(), digits) {
        out.push("database");
    }
    if let Ok(bytes) = std::fs::read(PathBuf::from(wal))
        && contains(&bytes, digits)
    {
        out.push("wal");
    }
    out
}

fn reply(key: &str, to: &str, sender: u8, now: Timestamp) -> NewReply {
    NewReply {
        idempotency_key: key.into(),
        number: PhoneNumber::parse("+33757000000").unwrap(),
        recipient: PhoneNumber::parse(to).unwrap(),
        sender: SenderHash([sender; 16]),
        kind: ReplyKind::Lesson,
        due_at: now,
        expires_at: now.add(Duration::from_secs(3600)),
    }
}

async fn number_gone_after_send(tag: &str, config: SqliteConfig, terminal: Option<TerminalState>) {
    let dir = TempDir::new(tag);
    let db = dir.0.join("antirelou.db");
    let store = SqliteStore::open_with(&db, config).await.unwrap();
    let now = Timestamp::from_secs(1_700_000_000);
    store
        .schedule(reply("k-him", HIM, 1, now), now)
        .await
        .unwrap();
    // Push the first version of his row's page through a checkpoint into the database file,
    // as a busy server would before his lesson is due.
    assert!(store.truncate_wal().await.unwrap());
    store
        .schedule(reply("k-other", OTHER, 2, now), now)
        .await
        .unwrap();
    assert!(
        !found_in(&db, HIS_DIGITS).is_empty(),
        "the search must find a pending number"
    );

    let claimed = store
        .claim_due(now, Duration::from_secs(60), 1)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let token = claimed[0].token;
    match terminal {
        None => store.complete(token, "SMx", now).await.unwrap(),
        Some(state) => store.finish(token, state, "x", now).await.unwrap(),
    }
    // The hourly purge (here deleting nothing: retention not reached) ends with a checkpoint.
    store.purge(Timestamp::from_secs(1)).await.unwrap();

    assert_eq!(
        found_in(&db, HIS_DIGITS),
        Vec::<&str>::new(),
        "{tag}: his number survived the send"
    );
    assert!(
        !found_in(&db, OTHER_DIGITS).is_empty(),
        "{tag}: a pending number must stay"
    );
    store.close().await;
    // After the last connection closed, the file alone still holds nothing of him.
    assert_eq!(found_in(&db, HIS_DIGITS), Vec::<&str>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sent_number_is_gone_from_the_database_file_and_its_wal() {
    number_gone_after_send("default", SqliteConfig::default(), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_number_is_gone_without_the_background_checkpointer() {
    let mut config = SqliteConfig::default();
    config.background_checkpoint = false;
    number_gone_after_send("cancelled", config, Some(TerminalState::Cancelled)).await;
}
