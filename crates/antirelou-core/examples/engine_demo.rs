//! The engine end to end, in memory: a French number receives texts and calls, and one hour
//! later the dispatcher sends the lessons through a stub provider.
//!
//! Run it with `cargo run -p antirelou-core --example engine_demo`. Nothing leaves the machine:
//! the store is in memory, the provider is a stub and the clock is moved by hand.

use std::sync::Arc;
use std::time::Duration;

use antirelou_core::catalogue::Locale;
use antirelou_core::engine::{Engine, EngineConfig, NumberConfig, Transports};
use antirelou_core::event::{InboundCall, InboundSms};
use antirelou_core::memory::InMemoryStore;
use antirelou_core::privacy::NumberHasher;
use antirelou_core::stub::StubTransport;
use antirelou_core::voice::{VoiceScript, VoiceStep};
use antirelou_core::{Caller, Clock, InboundHandler, ManualClock, PhoneNumber, Timestamp};

fn sms(id: &str, from: &PhoneNumber, to: &PhoneNumber, body: &str) -> InboundSms {
    InboundSms {
        provider: antirelou_core::stub::PROVIDER,
        message_id: id.to_owned(),
        from: Caller::Number(from.clone()),
        to: to.clone(),
        body: body.to_owned(),
        received_at: None,
    }
}

fn describe(script: &VoiceScript) -> String {
    script
        .steps()
        .iter()
        .map(|s| match s {
            VoiceStep::Ring { seconds } => format!("ring {seconds} s"),
            VoiceStep::Say { text, language, .. } => {
                let short: String = text.chars().take(40).collect();
                format!("say [{language}] \"{short}…\"")
            }
            VoiceStep::Reject { reason } => format!("reject ({reason:?})"),
            VoiceStep::Hangup => "hang up".to_owned(),
            other => format!("{other:?}"),
        })
        .collect::<Vec<_>>()
        .join(", then ")
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> antirelou_core::Result<()> {
    // Monday 30 October 2017, noon (UTC): the day the French number was flooded.
    let clock = ManualClock::new(Timestamp::from_secs(1_509_364_800));
    let store = InMemoryStore::new();
    let ours = PhoneNumber::parse("+33937000000")?;
    let engine = Engine::builder(
        Arc::new(store.clone()),
        NumberHasher::new(b"demo secret: use a long random one")?,
    )
    .clock(Arc::new(clock.clone()))
    .config(EngineConfig::default()) // lesson one hour later, built-in French lessons
    .number(NumberConfig::new(
        ours.clone(),
        Locale::new("fr-FR")?,
        antirelou_core::stub::PROVIDER,
    ))
    .build()?;
    let stub = StubTransport::new();
    let dispatcher = engine.dispatcher(Transports::new().with(
        antirelou_core::stub::PROVIDER,
        Arc::new(stub.clone()),
        None,
    ));

    let alice_pest = PhoneNumber::parse("+33612345678")?;
    let bob_pest = PhoneNumber::parse("+33698765432")?;
    let caller = PhoneNumber::parse("+32470123456")?;

    println!("== {} inbound traffic to {}", clock.now(), ours.masked());
    let texts = [
        ("SM001", &alice_pest, "slt t ou ?", "a first text"),
        (
            "SM001",
            &alice_pest,
            "slt t ou ?",
            "the provider delivers the same webhook again",
        ),
        (
            "SM002",
            &bob_pest,
            "on se revoit quand ?",
            "a second man texts",
        ),
        (
            "SM003",
            &alice_pest,
            "tu réponds pas ?",
            "the first man insists",
        ),
    ];
    for (id, from, body, what) in texts {
        let outcome = engine.handle_sms(sms(id, from, &ours, body)).await?;
        println!("text from {} ({what}): {outcome:?}", from.masked());
    }
    clock.advance(Duration::from_secs(10 * 60));
    let outcome = engine
        .handle_sms(sms("SM004", &bob_pest, &ours, "Arrêt"))
        .await?;
    println!(
        "text \"Arrêt\" from {} ten minutes later: {outcome:?}",
        bob_pest.masked()
    );

    let first_call = InboundCall {
        provider: antirelou_core::stub::PROVIDER,
        call_id: "CA001".into(),
        from: Caller::Number(caller.clone()),
        to: ours.clone(),
    };
    println!(
        "call from {} (never seen): {}",
        caller.masked(),
        describe(&engine.handle_call(first_call).await?)
    );
    clock.advance(Duration::from_secs(15 * 60));
    let later_call = InboundCall {
        provider: antirelou_core::stub::PROVIDER,
        call_id: "CA002".into(),
        from: Caller::Number(caller.clone()),
        to: ours.clone(),
    };
    println!(
        "call from {} 15 min later: {}",
        caller.masked(),
        describe(&engine.handle_call(later_call).await?)
    );

    println!("\n== {} (25 min after the first text)", clock.now());
    let report = dispatcher.tick().await?;
    println!("dispatcher: {} sent (too early)", report.sent);

    clock.advance(Duration::from_secs(35 * 60));
    println!("\n== {} (one hour after the first text)", clock.now());
    let report = dispatcher.tick().await?;
    println!(
        "dispatcher: {} sent, {} retried, {} failed",
        report.sent, report.retried, report.failed
    );
    for m in stub.sent() {
        println!(
            "  sent {} → {} ({}): {}",
            m.from.masked(),
            m.to.masked(),
            m.provider_id,
            m.body.chars().take(70).collect::<String>() + "…"
        );
    }

    let stats = engine.stats().await?;
    println!("\n== statistics");
    for (name, value) in &stats.counters {
        println!("  {name:<28} {value}");
    }
    println!(
        "  queue: {} pending, {} claimed",
        stats.queue.pending, stats.queue.claimed
    );
    println!("  spend today: €{}", stats.spend.day);

    // The demo checks itself, so that CI notices if the engine changes behaviour.
    let ok = stub.sent_count() == 1
        && stub.sent().iter().all(|m| m.to == alice_pest)
        && stats.counter("drop.duplicate") == 1
        && stats.counter("optout.recorded") == 1;
    if !ok {
        return Err(antirelou_core::Error::Config(
            "the demo did not behave as expected".into(),
        ));
    }
    Ok(())
}
