//! The replay: run a scenario's traffic through the real engine, twice.
//!
//! [`replay`] generates the traffic once, then runs it under two policies:
//!
//! * [`Policy::Naive`]: what the 2017 number did: every text gets the lesson after the delay
//!   ([`AllowAll`], no one-lesson window, no spend cap);
//! * [`Policy::Antirelou`]: the default policy chain of `antirelou-abuse`, one lesson per sender,
//!   the scenario's daily and monthly caps.
//!
//! Each run builds an [`Engine`] on an in-memory store (`antirelou_core::memory::InMemoryStore`,
//! whose bulk expiry pass runs at most every 15 virtual minutes), a [`ManualClock`] and a
//! [`SimCarrier`]. For each contact in time order, the clock jumps to its instant; in between,
//! the dispatcher wakes every `engine.tick_seconds` of virtual time and sends whatever is due.
//! When the carrier suspends the number for lack of funds, the run stops: the number is dead.
//!
//! Every random draw derives from the seed, so the same scenario and seed give the same JSON: the
//! traffic, the carrier's faults, the engine's reply and backoff jitter
//! ([`EngineConfig::rng_seed`]) and the abuse policies' hashes ([`AbuseConfig::hash_seed`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use antirelou_core::memory::InMemoryStore;
use std::time::Duration;

use antirelou_abuse::{AbuseConfig, DefaultPolicies};
use antirelou_core::catalogue::{Catalogue, LessonSet, Locale};
use antirelou_core::engine::{Engine, EngineConfig, NumberConfig, Senders};
use antirelou_core::event::{InboundCall, InboundSms, Provider};
use antirelou_core::policy::{AbusePolicy, AllowAll};
use antirelou_core::privacy::NumberHasher;
use antirelou_core::store::{ReplyKind, SpendCaps};
use antirelou_core::voice::VoiceStep;
use antirelou_core::{Caller, Clock, InboundHandler, ManualClock, Money, SmsOutcome, Timestamp};
use serde::{Deserialize, Serialize};

use crate::carrier::SimCarrier;
use crate::error::{Result, SimError};
use crate::scenario::Scenario;
use crate::traffic::{Actor, ContactKind, Traffic, hours};

/// Which policy a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Reply to every text, as in 2017.
    Naive,
    /// antirelou's default policy chain, one lesson per sender, spend caps.
    Antirelou,
}

impl Policy {
    /// Both, in table order.
    pub const BOTH: [Policy; 2] = [Policy::Naive, Policy::Antirelou];

    /// `"naive"` or `"antirelou"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Naive => "naive",
            Policy::Antirelou => "antirelou",
        }
    }
}

/// The outcome of one run. The first fields are the replay's documented JSON; the others add
/// detail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Which policy.
    pub policy: Policy,
    /// Inbound texts that reached the number (and were billed).
    pub inbound_texts: u64,
    /// Distinct legitimate senders who texted.
    pub legit_senders: u64,
    /// Legitimate senders who got exactly one lesson (by SMS or, on a call, by voice).
    pub legit_senders_with_one_lesson: u64,
    /// Legitimate senders who got more than one.
    pub legit_senders_with_several_lessons: u64,
    /// SMS lessons delivered.
    pub lessons_sent: u64,
    /// Segments delivered (lessons and neutral replies).
    pub segments_sent: u64,
    /// Everything the carrier billed: inbound texts, answered calls, outbound segments.
    pub spend_eur: f64,
    /// What the replies to attackers (raid, spoofed, pumping) cost.
    pub reply_spend_on_attack_eur: f64,
    /// Whether the carrier suspended the number for lack of funds.
    pub stopped_for_budget: bool,
    /// Legitimate senders who got no lesson at all.
    pub legit_senders_without_lesson: u64,
    /// Lessons heard on a call.
    pub voice_lessons: u64,
    /// Neutral first replies delivered.
    pub neutral_replies_sent: u64,
    /// Texts the scenario sent (some may not have reached a suspended number).
    pub texts_offered: u64,
    /// Calls the scenario made.
    pub calls_offered: u64,
    /// Spend on inbound texts.
    pub spend_inbound_eur: f64,
    /// Spend on replies.
    pub spend_replies_eur: f64,
    /// When the number was suspended, if it was.
    pub stopped_at: Option<String>,
    /// Replies deferred because the daily or monthly cap was reached.
    pub replies_deferred_by_cap: u64,
    /// Contacts the engine dropped, by reason (`drop.global_pace`, …), from its counters.
    pub dropped: BTreeMap<String, u64>,
}

/// One run with its cumulative-spend curve.
#[derive(Clone, Debug)]
pub struct RunOutput {
    /// The figures.
    pub report: RunReport,
    /// `(hours since the start, cumulative spend in euros)`, one point per minute with spend.
    pub spend_curve: Vec<(f64, f64)>,
}

/// The replay's JSON: `{"scenario", "seed", "runs": [...]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplayReport {
    /// The scenario's name.
    pub scenario: String,
    /// The seed used.
    pub seed: u64,
    /// One run per policy: naive, then antirelou.
    pub runs: Vec<RunReport>,
}

/// A replay with the curves for the chart.
#[derive(Clone, Debug)]
pub struct Replay {
    /// The figures.
    pub report: ReplayReport,
    /// Each run's curve, in the order of `report.runs`.
    pub curves: Vec<(Policy, Vec<(f64, f64)>)>,
    /// Hours from the start to the last instant simulated.
    pub hours: f64,
    /// The traffic replayed.
    pub traffic_summary: TrafficSummary,
}

/// What the traffic held, by actor.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficSummary {
    /// Texts per actor.
    pub texts: BTreeMap<String, u64>,
    /// Senders per actor.
    pub senders: BTreeMap<String, u64>,
    /// Calls.
    pub calls: u64,
}

impl TrafficSummary {
    /// Summarise a traffic.
    pub fn of(t: &Traffic) -> Self {
        let mut s = TrafficSummary::default();
        for a in Actor::ALL {
            let n = t.senders_of(a) as u64;
            if n > 0 {
                s.senders.insert(a.as_str().into(), n);
                s.texts.insert(a.as_str().into(), t.texts_of(a) as u64);
            }
        }
        s.calls = t.calls() as u64;
        s
    }
}

/// Replay `scenario` with `seed` (the scenario's own seed when `None`) under both policies.
pub fn replay(scenario: &Scenario, seed: Option<u64>) -> Result<Replay> {
    let seed = seed.unwrap_or(scenario.seed);
    let traffic = scenario.generate(seed)?;
    let index = SenderIndex::new(&traffic);
    let mut runs = Vec::new();
    let mut curves = Vec::new();
    let mut last = 0.0f64;
    for p in Policy::BOTH {
        let out = run_with_index(scenario, &traffic, &index, seed, p)?;
        last = last.max(out.spend_curve.last().map_or(0.0, |(h, _)| *h));
        curves.push((p, out.spend_curve));
        runs.push(out.report);
    }
    Ok(Replay {
        report: ReplayReport {
            scenario: scenario.name.clone(),
            seed,
            runs,
        },
        curves,
        hours: last.max(scenario.duration_hours),
        traffic_summary: TrafficSummary::of(&traffic),
    })
}

/// Run already generated traffic under one policy.
pub fn run(scenario: &Scenario, traffic: &Traffic, seed: u64, policy: Policy) -> Result<RunOutput> {
    run_with_index(scenario, traffic, &SenderIndex::new(traffic), seed, policy)
}

/// From a number's key to its sender index.
struct SenderIndex(HashMap<u64, u32>);

impl SenderIndex {
    fn new(t: &Traffic) -> Self {
        SenderIndex(
            t.senders
                .iter()
                .enumerate()
                .map(|(i, s)| (s.number.key(), i as u32))
                .collect(),
        )
    }
}

/// The fixed key of the simulator's number hasher (the simulated store is thrown away).
const SIM_SECRET: &[u8] = b"antirelou-sim: a fixed key for simulated stores only";

const ENGINE_SALT: u64 = 0xE461_4E00;
const ABUSE_SALT: u64 = 0xAB05_E000;

/// A seed for one random source of one run, derived from the replay's seed (SplitMix64 of the
/// seed, the policy and the source), so that the sources are independent of one another.
fn derived_seed(seed: u64, policy: Policy, salt: u64) -> u64 {
    let mut z = seed ^ salt ^ ((policy as u64 + 1) << 56);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn duration_minutes(m: f64) -> Duration {
    hours(m / 60.0)
}

fn run_with_index(
    scenario: &Scenario,
    traffic: &Traffic,
    index: &SenderIndex,
    seed: u64,
    policy: Policy,
) -> Result<RunOutput> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|source| SimError::Io {
            path: "tokio runtime".into(),
            source,
        })?;
    rt.block_on(run_async(scenario, traffic, index, seed, policy))
}

fn lesson_set(scenario: &Scenario, locale: &Locale) -> LessonSet {
    LessonSet {
        locale: locale.clone(),
        sms: scenario.number.lesson.clone(),
        voice: scenario.number.lesson.clone(),
        neutral_reply: scenario.number.neutral_reply.clone(),
        voicemail_greeting: "Bonjour, vous etes bien sur ma messagerie, laissez-moi un message."
            .into(),
        out_of_service: "Ce numero n'est plus en service.".into(),
        facts_as_of: "2017-10-27".into(),
        stop_keywords: Vec::new(),
        start_keywords: Vec::new(),
    }
}

async fn run_async(
    scenario: &Scenario,
    traffic: &Traffic,
    index: &SenderIndex,
    seed: u64,
    policy: Policy,
) -> Result<RunOutput> {
    let sc = &scenario.engine;
    let clock = ManualClock::new(traffic.start);
    let shared_clock: Arc<dyn Clock> = Arc::new(clock.clone());
    let mut carrier = SimCarrier::new(shared_clock.clone(), scenario.carrier_prices())
        .with_faults(scenario.fault_plan(seed)?);
    if let Some(funds) = scenario.budget.funds() {
        carrier = carrier.with_funds(funds);
    }
    carrier.classify(&scenario.number.lesson, ReplyKind::Lesson);
    carrier.classify(&scenario.number.neutral_reply, ReplyKind::Neutral);

    let locale = Locale::new(&scenario.number.locale)
        .map_err(|e| SimError::scenario(&scenario.name, e.to_string()))?;
    let number = traffic.number.clone();
    let lessons = lesson_set(scenario, &locale);
    let mut catalogue = Catalogue::default();
    catalogue.insert(lessons.clone());
    let mut number_config = NumberConfig::new(number.clone(), locale, Provider::Simulated);

    let mut config = EngineConfig {
        reply_delay: duration_minutes(sc.reply_delay_minutes),
        reply_jitter: duration_minutes(sc.reply_jitter_minutes),
        reply_deadline: hours(sc.reply_deadline_hours).max(Duration::from_secs(1)),
        rng_seed: Some(derived_seed(seed, policy, ENGINE_SALT)),
        price_per_segment: Money::from_units_f64(scenario.prices.outbound_segment_eur),
        claim_batch: 100_000,
        workers: 1,
        ..EngineConfig::default()
    };
    let mut policies = None;
    let policy_impl: Arc<dyn AbusePolicy> = match policy {
        Policy::Naive => {
            config.lesson_window = Duration::ZERO;
            config.caps = SpendCaps::default();
            Arc::new(AllowAll)
        }
        Policy::Antirelou => {
            let window = hours(sc.lesson_window_days * 24.0);
            config.lesson_window = window;
            config.caps = SpendCaps {
                daily: positive(scenario.budget.daily_cap_eur),
                monthly: positive(scenario.budget.monthly_cap_eur),
            };
            number_config.neutral_first_reply = scenario.number.neutral_first_reply;
            let tuned = scenario
                .abuse
                .config()
                .map_err(|r| SimError::scenario(&scenario.name, r))?;
            let abuse = AbuseConfig {
                lesson_window: window,
                recent_capacity: recent_capacity(traffic.senders.len()),
                hash_seed: Some(derived_seed(seed, policy, ABUSE_SALT)),
                ..tuned
            };
            let p = DefaultPolicies::new(number.region(), &abuse)
                .map_err(|e| SimError::scenario(&scenario.name, e.to_string()))?;
            let chain = Arc::new(p.chain());
            policies = Some(p);
            chain
        }
    };
    let caps = config.caps;
    let lesson_cost =
        config.price_per_segment * antirelou_core::encoding::plan(&scenario.number.lesson).segments;
    let store = Arc::new(InMemoryStore::new());
    let engine = Engine::builder(store.clone(), NumberHasher::new(SIM_SECRET)?)
        .clock(shared_clock.clone())
        .policy(policy_impl)
        .catalogue(catalogue)
        .config(config)
        .number(number_config)
        .build()?;
    let dispatcher = engine.dispatcher(Senders::new().with(
        Provider::Simulated,
        Arc::new(carrier.clone()),
        None,
    ));

    let step = Duration::from_secs(sc.tick_seconds);
    let mut next_tick = traffic.start.add(step);
    let mut voice_lessons = vec![0u32; traffic.senders.len()];
    let mut deferred = 0u64;
    let call_seconds = scenario.prices.call_seconds;

    // Wake the dispatcher at `t`: refresh the policies' view of the budget from the ledger (as
    // a server's `budget_refresher` does), then send everything due.
    let wake = |t: Timestamp| {
        clock.set(t);
        let dispatcher = &dispatcher;
        let store = &store;
        let policies = &policies;
        async move {
            if let Some(p) = policies {
                p.refresh_budget_from(&**store, &caps, lesson_cost, t)
                    .await?;
            }
            let mut deferred = 0;
            for _ in 0..1_000 {
                let q = antirelou_core::store::ReplyQueue::queue_stats(&**store, t).await?;
                if q.due == 0 {
                    break;
                }
                let r = dispatcher.tick().await?;
                deferred += r.budget_deferred;
                if r.claimed == 0 {
                    break;
                }
            }
            Ok::<u64, antirelou_core::Error>(deferred)
        }
    };

    for (i, ev) in traffic.events.iter().enumerate() {
        if carrier.shut_off_at().is_some() {
            break;
        }
        while next_tick <= ev.at {
            deferred += wake(next_tick).await?;
            next_tick = next_tick.add(step);
            if carrier.shut_off_at().is_some() {
                break;
            }
        }
        if carrier.shut_off_at().is_some() {
            break;
        }
        clock.set(ev.at);
        let sender = traffic.sender(ev);
        match ev.kind {
            ContactKind::Text => {
                if carrier.receive_sms(&sender.number, &number).is_err() {
                    break;
                }
                let sms = InboundSms {
                    provider: Provider::Simulated,
                    message_id: format!("SIM-IN-{i}"),
                    from: Caller::Number(sender.number.clone()),
                    to: number.clone(),
                    body: "Salut".into(),
                    received_at: Some(ev.at),
                };
                let _: SmsOutcome = engine.handle_sms(sms).await?;
            }
            ContactKind::Call => {
                if carrier.accept_call().is_err() {
                    break;
                }
                let call = InboundCall {
                    provider: Provider::Simulated,
                    call_id: format!("SIM-CALL-{i}"),
                    from: Caller::Number(sender.number.clone()),
                    to: number.clone(),
                };
                let script = engine.handle_call(call).await?;
                if script.is_reject() {
                    carrier.reject_call();
                } else {
                    let heard = script.steps().iter().any(
                        |s| matches!(s, VoiceStep::Say { text, .. } if *text == lessons.voice),
                    );
                    if heard {
                        voice_lessons[ev.sender as usize] += 1;
                    }
                    if carrier
                        .bill_call(script.ring_seconds() + call_seconds)
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
    }
    // Drain: keep waking the dispatcher until nothing is left (replies expire at their
    // deadline at the latest).
    let horizon = traffic.end.add(
        duration_minutes(sc.reply_delay_minutes) + hours(sc.reply_deadline_hours) + hours(50.0),
    );
    let mut last = clock.now();
    while carrier.shut_off_at().is_none() && next_tick <= horizon {
        let q = antirelou_core::store::ReplyQueue::queue_stats(&*store, next_tick).await?;
        if q.pending == 0 && q.claimed == 0 {
            break;
        }
        deferred += wake(next_tick).await?;
        last = next_tick;
        next_tick = next_tick.add(step);
    }
    let end = carrier.shut_off_at().unwrap_or(last.max(clock.now()));

    let stats = engine.stats().await?;
    let cstats = carrier.stats();
    let mut sms_lessons = vec![0u32; traffic.senders.len()];
    let mut attack_spend = Money::ZERO;
    let mut neutral = 0u64;
    let mut lessons_sent = 0u64;
    carrier.with_delivered(|ds| {
        for d in ds {
            let Some(&idx) = index.0.get(&d.to.key()) else {
                continue;
            };
            if traffic.senders[idx as usize].actor.is_attack() {
                attack_spend += d.price;
            }
            match d.reply_kind {
                Some(ReplyKind::Lesson) => {
                    lessons_sent += 1;
                    sms_lessons[idx as usize] += 1;
                }
                Some(ReplyKind::Neutral) => neutral += 1,
                None => {}
            }
        }
    });
    let mut legit = 0u64;
    let mut one = 0u64;
    let mut several = 0u64;
    let mut none = 0u64;
    let mut texted = vec![false; traffic.senders.len()];
    for ev in &traffic.events {
        if ev.kind == ContactKind::Text {
            texted[ev.sender as usize] = true;
        }
    }
    for (i, s) in traffic.senders.iter().enumerate() {
        if s.actor != Actor::Legit || !texted[i] {
            continue;
        }
        legit += 1;
        match sms_lessons[i] + voice_lessons[i] {
            0 => none += 1,
            1 => one += 1,
            _ => several += 1,
        }
    }
    let dropped = stats
        .counters
        .iter()
        .filter(|(k, _)| k.starts_with("drop."))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    let mut curve: Vec<(f64, f64)> = carrier
        .spend_series()
        .into_iter()
        .map(|(t, m)| {
            (
                t.since(traffic.start).as_secs_f64() / 3600.0,
                m.as_units_f64(),
            )
        })
        .collect();
    curve.insert(0, (0.0, 0.0));
    curve.push((
        end.since(traffic.start).as_secs_f64() / 3600.0,
        cstats.total().as_units_f64(),
    ));

    Ok(RunOutput {
        report: RunReport {
            policy,
            inbound_texts: cstats.inbound_sms,
            legit_senders: legit,
            legit_senders_with_one_lesson: one,
            legit_senders_with_several_lessons: several,
            lessons_sent,
            segments_sent: cstats.segments_sent,
            spend_eur: eur(cstats.total()),
            reply_spend_on_attack_eur: eur(attack_spend),
            stopped_for_budget: carrier.shut_off_at().is_some(),
            legit_senders_without_lesson: none,
            voice_lessons: voice_lessons.iter().map(|v| u64::from(*v)).sum(),
            neutral_replies_sent: neutral,
            texts_offered: traffic.texts() as u64,
            calls_offered: traffic.calls() as u64,
            spend_inbound_eur: eur(cstats.spend_inbound_sms),
            spend_replies_eur: eur(cstats.spend_outbound),
            stopped_at: carrier.shut_off_at().map(|t| t.to_string()),
            replies_deferred_by_cap: deferred,
            dropped,
        },
        spend_curve: curve,
    })
}

/// Euros as a float with at most six decimals (money is kept exact in micro-euros until here).
fn eur(m: Money) -> f64 {
    m.as_units_f64()
}

fn positive(eur: f64) -> Option<Money> {
    (eur > 0.0).then(|| Money::from_units_f64(eur))
}

/// A repeat-filter size comfortably above the number of senders (a power of two).
fn recent_capacity(senders: usize) -> usize {
    (senders.saturating_mul(2))
        .next_power_of_two()
        .clamp(1 << 12, 1 << 22)
}
