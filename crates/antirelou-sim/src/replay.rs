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
//! the core runtime (the server's wiring) wakes every `engine.tick_seconds` of virtual time: it
//! feeds the spend to the policies, runs the retention purge when due (the server's defaults),
//! and the dispatcher sends whatever is due.
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
use antirelou_core::engine::{Engine, EngineConfig, EngineStats, NumberConfig, Transports};
use antirelou_core::event::{InboundCall, InboundSms};
use antirelou_core::policy::Reason;
use antirelou_core::policy::{AbusePolicy, AllowAll};
use antirelou_core::privacy::NumberHasher;
use antirelou_core::privacy::SenderHash;
use antirelou_core::runtime::Runtime;
use antirelou_core::store::{ReplyKind, ReplyQueue, ReplyState, SpendCaps};
use antirelou_core::voice::VoiceStep;
use antirelou_core::{Caller, Clock, InboundHandler, ManualClock, Money, SmsOutcome, Timestamp};
use serde::{Deserialize, Serialize};

use crate::carrier::SimCarrier;
use crate::error::{Result, SimError};
use crate::scenario::Scenario;
use crate::traffic::{Actor, ContactKind, SimEvent, Traffic, hours};

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

/// What became of the senders of one group (the legitimate senders, or the attackers): each
/// sender is counted once, by what he finally got. Measured from the engine's real outcomes:
/// what the carrier delivered, what the engine answered to each text, and what the store still
/// holds at the end.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SenderOutcomes {
    /// Distinct senders (who texted or called).
    pub senders: u64,
    /// Their texts that reached the number.
    pub texts: u64,
    /// Their calls that reached the number.
    pub calls: u64,
    /// Senders who got exactly one lesson (by SMS, or heard on a call).
    pub one_lesson: u64,
    /// ... of whom at most 1 h later than intended (the intended time is the first text plus the
    /// reply delay; a lesson heard on a call is on time).
    pub one_lesson_within_1h: u64,
    /// ... at most 24 h later than intended.
    pub one_lesson_within_24h: u64,
    /// ... at most 72 h later than intended.
    pub one_lesson_within_72h: u64,
    /// Senders who got more than one lesson.
    pub several_lessons: u64,
    /// Senders who got none.
    pub no_lesson: u64,
    /// Senders who got none, by why (a policy's reason such as `prefix_flood`, `expired: …` for
    /// a lesson that expired unsent, `heard_decoy_greeting_only`, `number_switched_off`, …).
    /// With `still_deferred`, sums to `no_lesson`.
    pub refused: BTreeMap<String, u64>,
    /// Senders who got none but whose lesson the store still holds, unsent, at the end of the
    /// run (deferred past the simulated horizon).
    pub still_deferred: u64,
    /// What the SMS replies to these senders cost (lessons and neutral replies).
    pub reply_spend_eur: f64,
    /// What their answered calls cost.
    pub call_spend_eur: f64,
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
    /// What the replies to each kind of attacker cost (`raid`: numbers that texted or called
    /// themselves, copy-pasters and callers included; `spoofed`; `pumping`), for the kinds the
    /// traffic has.
    #[serde(default)]
    pub reply_spend_by_attacker_eur: BTreeMap<String, f64>,
    /// Whether the number stopped for money: the carrier suspended it (funds exhausted) or the
    /// operators switched it off (`stopped_by` says which).
    pub stopped_for_budget: bool,
    /// Legitimate senders who got no lesson at all.
    pub legit_senders_without_lesson: u64,
    /// Lessons heard on a call.
    pub voice_lessons: u64,
    /// Neutral first replies delivered.
    pub neutral_replies_sent: u64,
    /// Texts the scenario sent (some may not have reached a number switched off).
    pub texts_offered: u64,
    /// Calls the scenario made.
    pub calls_offered: u64,
    /// Spend on inbound texts.
    pub spend_inbound_eur: f64,
    /// Spend on answered calls.
    pub spend_calls_eur: f64,
    /// Spend on replies.
    pub spend_replies_eur: f64,
    /// When the number stopped (UTC, RFC 3339), if it did.
    pub stopped_at: Option<String>,
    /// The same instant in the scenario's local time, with its zone.
    pub stopped_at_local: Option<String>,
    /// Who stopped it: `"operators"` (they switched it off when the bill reached
    /// `budget.operator_shutoff_eur`) or `"carrier"` (prepaid funds exhausted).
    pub stopped_by: Option<String>,
    /// Deferral events: each time the dispatcher put a due reply off to the next day or month
    /// because a spend cap was reached (a reply deferred on two days counts twice).
    pub replies_deferred_by_cap: u64,
    /// The engine's drop counters (`drop.<reason>`: texts and calls that got no lesson for this
    /// reason; `drop.sms_to_callers_disabled` counts callers who heard the decoy greeting and
    /// were not texted).
    pub dropped: BTreeMap<String, u64>,
    /// The engine's deferral counters (`deferred.<reason>`: lessons held back, not refused, by
    /// the flood detector, the pace or a spend cap; each lesson counted once).
    pub deferred: BTreeMap<String, u64>,
    /// Lessons sent in their one-segment short form under budget pressure (`lesson.short_form`).
    pub short_form_lessons: u64,
    /// What the engine answered to the texts, by outcome (`scheduled`, `dropped:<reason>`, …).
    pub text_outcomes: BTreeMap<String, u64>,
    /// The legitimate senders' outcomes.
    pub legit: SenderOutcomes,
    /// The attackers' outcomes (raid, spoofed, pumping together).
    pub attack: SenderOutcomes,
    /// For each published figure of the scenario: the bill when the reply to that many texts was
    /// due (its text's time plus the reply delay and jitter), or `None` if the run never got
    /// that many texts.
    pub bill_at_published_texts: Vec<Option<f64>>,
    /// The most the replies cost on one day (UTC days, the spend ledger's), in euros: what the
    /// daily cap bounds.
    pub max_daily_reply_spend_eur: f64,
}

/// One run with its cumulative-spend curve.
#[derive(Clone, Debug)]
pub struct RunOutput {
    /// The figures.
    pub report: RunReport,
    /// `(hours since the start, cumulative spend in euros)`, one point per minute with spend.
    pub spend_curve: Vec<(f64, f64)>,
    /// When the number stopped, in hours since the start.
    pub stopped_hours: Option<f64>,
    /// `(hours since the start, cumulative spend on replies in euros)`: what the caps bound.
    pub reply_curve: Vec<(f64, f64)>,
}

/// The replay's JSON: `{"scenario", "seed", "runs": [...], ...}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplayReport {
    /// The scenario's name.
    pub scenario: String,
    /// The seed used.
    pub seed: u64,
    /// One run per policy: naive, then antirelou.
    pub runs: Vec<RunReport>,
    /// When the scenario has an operator switch-off: the naive policy run again without it,
    /// the bill nobody stopped (volumes × prices).
    pub naive_uncapped: Option<RunReport>,
    /// The traffic replayed.
    pub traffic: TrafficSummary,
    /// The antirelou run's daily cap on replies, in euros (`None`: none).
    pub daily_cap_eur: Option<f64>,
    /// The bill at which the operators switch the number off, in euros.
    pub operator_shutoff_eur: Option<f64>,
    /// The chart's path, when one was written.
    pub chart: Option<String>,
}

/// A replay with the curves for the chart.
#[derive(Clone, Debug)]
pub struct Replay {
    /// The figures.
    pub report: ReplayReport,
    /// Each run's curve, in the order of `report.runs`.
    pub curves: Vec<(Policy, Vec<(f64, f64)>)>,
    /// The uncapped naive run's curve, when there is one.
    pub uncapped_curve: Option<Vec<(f64, f64)>>,
    /// When each run of `report.runs` stopped, in hours since the start.
    pub stopped_hours: Vec<Option<f64>>,
    /// The antirelou run's cumulative spend on replies alone (what its daily cap bounds).
    pub antirelou_reply_curve: Vec<(f64, f64)>,
    /// Hours from the start to the last instant simulated.
    pub hours: f64,
    /// The traffic replayed.
    pub traffic_summary: TrafficSummary,
    /// The attacks' windows `(start, end)` in hours since the start, with a label.
    pub attack_windows: Vec<(f64, f64, String)>,
    /// The scenario replayed (its zone, prices and caps label the report and the chart).
    pub scenario: Scenario,
}

/// What the traffic held, by actor and by local day.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficSummary {
    /// Texts per actor.
    pub texts: BTreeMap<String, u64>,
    /// Senders per actor.
    pub senders: BTreeMap<String, u64>,
    /// Calls.
    pub calls: u64,
    /// Calls per actor.
    #[serde(default)]
    pub calls_by_actor: BTreeMap<String, u64>,
    /// Texts per local calendar day (`"2017-10-30"`): `[all, from attackers]`.
    #[serde(default)]
    pub texts_by_local_day: BTreeMap<String, [u64; 2]>,
    /// The zone of those days (`"Paris, UTC+2"` at the start).
    #[serde(default)]
    pub time_zone: String,
    /// Distinct texts among the texts, word for word (a copy-paste raid adds few).
    #[serde(default)]
    pub distinct_bodies: u64,
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
        for e in &t.events {
            if e.kind == ContactKind::Call {
                *s.calls_by_actor
                    .entry(t.sender(e).actor.as_str().into())
                    .or_default() += 1;
            }
        }
        s
    }

    /// Summarise a traffic with the scenario's local days and distinct texts.
    pub fn of_scenario(t: &Traffic, scenario: &Scenario) -> Self {
        let mut s = Self::of(t);
        s.time_zone = scenario.zone_label(scenario.utc_offset_secs_at(t.start));
        let mut distinct = std::collections::HashSet::new();
        for e in &t.events {
            if e.kind != ContactKind::Text {
                continue;
            }
            let off = scenario.utc_offset_secs_at(e.at);
            let day = Timestamp::from_millis(e.at.as_millis() + off * 1000)
                .to_datetime()
                .format("%Y-%m-%d")
                .to_string();
            let cell = s.texts_by_local_day.entry(day).or_default();
            cell[0] += 1;
            if t.sender(e).actor.is_attack() {
                cell[1] += 1;
            }
            distinct.insert(text_key(&t.body(e)));
        }
        s.distinct_bodies = distinct.len() as u64;
        s
    }
}

/// A 64-bit key of a text, to count distinct texts without keeping them.
fn text_key(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

/// Replay `scenario` with `seed` (the scenario's own seed when `None`) under both policies, and
/// once more naive without the operators' switch-off when the scenario has one.
pub fn replay(scenario: &Scenario, seed: Option<u64>) -> Result<Replay> {
    let seed = seed.unwrap_or(scenario.seed);
    let traffic = scenario.generate(seed)?;
    let index = SenderIndex::new(&traffic);
    // The runs are independent (each has its own engine, store, carrier and clock): run them
    // side by side.
    let uncapped = scenario.budget.operator_shutoff().is_some();
    let jobs: Vec<(Policy, bool)> = Policy::BOTH
        .iter()
        .map(|p| (*p, true))
        .chain(uncapped.then_some((Policy::Naive, false)))
        .collect();
    let outs: Vec<Result<RunOutput>> = std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|(p, stop)| {
                let (traffic, index) = (&traffic, &index);
                scope.spawn(move || run_with_index(scenario, traffic, index, seed, *p, *stop))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(SimError::Chart("a replay run panicked".into())))
            })
            .collect()
    });
    let mut runs = Vec::new();
    let mut curves = Vec::new();
    let mut stopped_hours = Vec::new();
    let mut last = 0.0f64;
    let mut naive_uncapped = None;
    let mut uncapped_curve = None;
    let mut antirelou_reply_curve = Vec::new();
    for ((p, stop), out) in jobs.into_iter().zip(outs) {
        let out = out?;
        if p == Policy::Antirelou {
            antirelou_reply_curve = out.reply_curve.clone();
        }
        last = last.max(out.spend_curve.last().map_or(0.0, |(h, _)| *h));
        if stop {
            curves.push((p, out.spend_curve));
            stopped_hours.push(out.stopped_hours);
            runs.push(out.report);
        } else {
            uncapped_curve = Some(out.spend_curve);
            naive_uncapped = Some(out.report);
        }
    }
    let summary = TrafficSummary::of_scenario(&traffic, scenario);
    Ok(Replay {
        report: ReplayReport {
            scenario: scenario.name.clone(),
            seed,
            runs,
            naive_uncapped,
            traffic: summary.clone(),
            daily_cap_eur: positive(scenario.budget.daily_cap_eur).map(|m| m.as_units_f64()),
            operator_shutoff_eur: scenario.budget.operator_shutoff().map(|m| m.as_units_f64()),
            chart: None,
        },
        curves,
        uncapped_curve,
        stopped_hours,
        antirelou_reply_curve,
        hours: last.max(scenario.duration_hours),
        traffic_summary: summary,
        attack_windows: attack_windows(scenario),
        scenario: scenario.clone(),
    })
}

/// The attacks' windows from the scenario, in hours since the start; overlapping or touching
/// windows of one kind are merged.
pub fn attack_windows(s: &Scenario) -> Vec<(f64, f64, String)> {
    let mut w: Vec<(f64, f64, String)> = Vec::new();
    for r in &s.raid {
        w.push((r.start_hour, r.start_hour + r.duration_hours, "raid".into()));
    }
    if let Some(sp) = &s.spoofed {
        w.push((
            sp.start_hour,
            sp.start_hour + sp.duration_hours,
            "spoofed".into(),
        ));
    }
    for p in &s.pumping {
        w.push((
            p.start_hour,
            p.start_hour + p.duration_hours,
            "pumping".into(),
        ));
    }
    w.sort_by(|a, b| a.2.cmp(&b.2).then(a.0.total_cmp(&b.0)));
    let mut out: Vec<(f64, f64, String)> = Vec::new();
    for (lo, hi, label) in w {
        match out.last_mut() {
            Some(last) if last.2 == label && lo <= last.1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi, label)),
        }
    }
    out
}

/// Run already generated traffic under one policy (with the operators' switch-off, if the
/// scenario has one).
pub fn run(scenario: &Scenario, traffic: &Traffic, seed: u64, policy: Policy) -> Result<RunOutput> {
    run_with_index(
        scenario,
        traffic,
        &SenderIndex::new(traffic),
        seed,
        policy,
        true,
    )
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
    operators_stop: bool,
) -> Result<RunOutput> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|source| SimError::Io {
            path: "tokio runtime".into(),
            source,
        })?;
    rt.block_on(run_async(
        scenario,
        traffic,
        index,
        seed,
        policy,
        operators_stop,
    ))
}

fn lesson_set(scenario: &Scenario, locale: &Locale) -> LessonSet {
    LessonSet {
        locale: locale.clone(),
        sms: scenario.number.lesson.clone(),
        sms_short: scenario.number.short_lesson.clone().or_else(|| {
            Catalogue::builtin()
                .get(locale)
                .and_then(|s| s.sms_short.clone())
        }),
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

/// Why a sender without a lesson got none, as far as the run saw it (the most telling last).
#[derive(Clone, Debug, Default)]
struct Untaught {
    /// The reason of the last refusal of one of his texts or calls.
    refused: Option<&'static str>,
    /// He heard the decoy greeting on a call.
    decoy: bool,
    /// A lesson of his ended unsent in the store (expired, cancelled, failed), with why.
    ended: Option<String>,
    /// A lesson of his is still pending in the store.
    pending: bool,
    /// A contact of his did not reach the number (switched off).
    shut_out: bool,
}

impl Untaught {
    /// Why he got no lesson, the most telling reason first: the number was switched off
    /// before his lesson left (still pending, or a contact of his shut out with no lesson
    /// ended), his lesson ended unsent, a refusal, the decoy greeting.
    fn why(&self) -> String {
        if self.pending || (self.shut_out && self.ended.is_none()) {
            "number_switched_off".to_owned()
        } else if let Some(e) = &self.ended {
            e.clone()
        } else if let Some(r) = self.refused {
            r.to_owned()
        } else if self.decoy {
            "heard_decoy_greeting_only".to_owned()
        } else {
            "unknown".to_owned()
        }
    }
}

/// Per-sender bookkeeping of a run.
struct Ledger {
    first_contact: Vec<Option<Timestamp>>,
    voice_lessons: Vec<u32>,
    untaught: Vec<Untaught>,
    call_spend: [Money; 2],
    texts: [u64; 2],
    calls: [u64; 2],
}

fn group(actor: Actor) -> usize {
    usize::from(actor.is_attack())
}

/// The label of a refusal reason, or `None` for outcomes that are no refusal of the sender
/// (already taught: he got his lesson; duplicates).
fn refusal(r: Reason) -> Option<&'static str> {
    match r {
        Reason::AlreadyTaught | Reason::Duplicate => None,
        r => Some(r.as_str()),
    }
}

fn outcome_label(o: &SmsOutcome) -> String {
    match o {
        SmsOutcome::Scheduled => "scheduled".into(),
        SmsOutcome::Dropped(r) => format!("dropped:{}", r.as_str()),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// One run: build its world, play the contacts, drain the queue, then read what became of
/// every sender.
async fn run_async(
    scenario: &Scenario,
    traffic: &Traffic,
    index: &SenderIndex,
    seed: u64,
    policy: Policy,
    operators_stop: bool,
) -> Result<RunOutput> {
    let mut run = Run::new(scenario, traffic, seed, policy, operators_stop)?;
    let cut_at = run.play_contacts().await?;
    // Contacts that never reached the number because it was switched off.
    if let Some(from) = cut_at {
        for ev in &traffic.events[from..] {
            run.ledger.untaught[ev.sender as usize].shut_out = true;
        }
    }
    let last = run.drain().await?;
    run.finish(index, policy, last).await
}

/// The simulated carrier on `clock`: the scenario's prices, faults and prepaid funds; it tells
/// lessons and neutral replies apart by their text.
fn sim_carrier(scenario: &Scenario, seed: u64, clock: &ManualClock) -> Result<SimCarrier> {
    let shared_clock: Arc<dyn Clock> = Arc::new(clock.clone());
    let mut carrier = SimCarrier::new(shared_clock, scenario.carrier_prices())
        .with_faults(scenario.fault_plan(seed)?);
    if let Some(funds) = scenario.budget.funds() {
        carrier = carrier.with_funds(funds);
    }
    carrier.classify(&scenario.number.lesson, ReplyKind::Lesson);
    carrier.classify(&scenario.number.neutral_reply, ReplyKind::Neutral);
    Ok(carrier)
}

/// The engine's settings shared by both policies: the scenario's delays and prices, the seeded
/// jitter, one worker claiming everything due.
fn engine_config(scenario: &Scenario, seed: u64, policy: Policy) -> EngineConfig {
    let sc = &scenario.engine;
    EngineConfig {
        reply_delay: duration_minutes(sc.reply_delay_minutes),
        reply_jitter: duration_minutes(sc.reply_jitter_minutes),
        reply_deadline: hours(sc.reply_deadline_hours).max(Duration::from_secs(1)),
        rng_seed: Some(derived_seed(seed, policy, ENGINE_SALT)),
        price_per_segment: Money::from_units_f64(scenario.prices.outbound_segment_eur),
        claim_batch: 100_000,
        workers: 1,
        ..EngineConfig::default()
    }
}

/// The abuse policy of a run, with what it sets in the engine's and the number's settings: the
/// naive run answers everything (no window, no caps); antirelou's has the scenario's window,
/// caps, neutral first reply, `[abuse.defer]` and tuned default chain.
fn defences(
    scenario: &Scenario,
    traffic: &Traffic,
    seed: u64,
    policy: Policy,
    config: &mut EngineConfig,
    number_config: &mut NumberConfig,
) -> Result<Arc<dyn AbusePolicy>> {
    let sc = &scenario.engine;
    Ok(match policy {
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
            // `[abuse.defer]`: how deferred lessons are held (the server's names and defaults).
            scenario.abuse.defer.apply(config);
            let tuned = scenario
                .abuse
                .into_config(window)
                .map_err(|e| SimError::scenario(&scenario.name, format!("abuse.{e}")))?;
            let abuse = AbuseConfig {
                lesson_window: window,
                recent_capacity: recent_capacity(traffic.senders.len()),
                hash_seed: Some(derived_seed(seed, policy, ABUSE_SALT)),
                ..tuned
            };
            let p = DefaultPolicies::new(traffic.number.region(), &abuse)
                .map_err(|e| SimError::scenario(&scenario.name, e.to_string()))?;
            Arc::new(p.chain())
        }
    })
}

/// The engine of one run on `clock`, on a fresh in-memory store, with the scenario's number and
/// lessons and the policy's defences; returns it with its store and the number's lessons.
fn build_engine(
    scenario: &Scenario,
    traffic: &Traffic,
    seed: u64,
    policy: Policy,
    clock: &ManualClock,
    carrier: &SimCarrier,
) -> Result<(Engine, Arc<InMemoryStore>, LessonSet)> {
    let locale = Locale::new(&scenario.number.locale)
        .map_err(|e| SimError::scenario(&scenario.name, e.to_string()))?;
    let lessons = lesson_set(scenario, &locale);
    // The short form the engine sends under budget pressure is a lesson too.
    if let Some(short) = &lessons.sms_short {
        carrier.classify(short, ReplyKind::Lesson);
    }
    let mut catalogue = Catalogue::default();
    catalogue.insert(lessons.clone());
    let mut number_config = NumberConfig::new(
        traffic.number.clone(),
        locale,
        antirelou_core::stub::PROVIDER,
    );
    let mut config = engine_config(scenario, seed, policy);
    let policy_impl = defences(
        scenario,
        traffic,
        seed,
        policy,
        &mut config,
        &mut number_config,
    )?;
    let store = Arc::new(InMemoryStore::new());
    let engine = Engine::builder(store.clone(), NumberHasher::new(SIM_SECRET)?)
        .clock(Arc::new(clock.clone()))
        .policy(policy_impl)
        .catalogue(catalogue)
        .config(config)
        .number(number_config)
        .build()?;
    Ok((engine, store, lessons))
}

/// The reference server's wiring (the core runtime) around `engine`, sending through `carrier`,
/// to be stepped on virtual time: the spend is fed to the policies at every wake-up; the
/// retention purge runs with the server's defaults (the runtime's own: `Retention::default()`,
/// at most hourly by the engine's clock), so that the sim forgets what the server forgets.
fn sim_runtime(engine: &Engine, carrier: &SimCarrier) -> Runtime {
    Runtime::builder(
        engine.clone(),
        Transports::new().with(
            antirelou_core::stub::PROVIDER,
            Arc::new(carrier.clone()),
            None,
        ),
    )
    .spend_every(Duration::ZERO)
    .build()
}

/// One run in progress: the traffic played on the virtual clock against the engine through the
/// core runtime, and what the run has counted so far.
struct Run<'a> {
    scenario: &'a Scenario,
    traffic: &'a Traffic,
    clock: ManualClock,
    carrier: SimCarrier,
    store: Arc<InMemoryStore>,
    runtime: Runtime,
    /// The number's lessons (a call that played the voice lesson taught its caller).
    lessons: LessonSet,
    /// The bill at which the operators switch the number off, in this run.
    shutoff: Option<Money>,
    /// The price of a minute of answered call.
    call_price: Money,
    /// The dispatcher's period, and its next wake-up.
    step: Duration,
    next_tick: Timestamp,
    ledger: Ledger,
    text_outcomes: BTreeMap<String, u64>,
    /// Deferral events by a spend cap, summed over the wake-ups.
    deferred: u64,
    texts_received: u64,
    /// When the text of each published figure arrived.
    published_at: Vec<Option<Timestamp>>,
    /// When the operators switched the number off.
    switched_off: Option<Timestamp>,
}

impl<'a> Run<'a> {
    /// The world of one run at the traffic's start: clock, carrier, engine and runtime.
    fn new(
        scenario: &'a Scenario,
        traffic: &'a Traffic,
        seed: u64,
        policy: Policy,
        operators_stop: bool,
    ) -> Result<Self> {
        let clock = ManualClock::new(traffic.start);
        let carrier = sim_carrier(scenario, seed, &clock)?;
        let shutoff = if operators_stop {
            scenario.budget.operator_shutoff()
        } else {
            None
        };
        let (engine, store, lessons) =
            build_engine(scenario, traffic, seed, policy, &clock, &carrier)?;
        let runtime = sim_runtime(&engine, &carrier);
        let step = Duration::from_secs(scenario.engine.tick_seconds);
        let n = traffic.senders.len();
        Ok(Run {
            scenario,
            traffic,
            clock,
            call_price: scenario.carrier_prices().inbound_call_per_minute,
            carrier,
            store,
            runtime,
            lessons,
            shutoff,
            step,
            next_tick: traffic.start.add(step),
            ledger: Ledger {
                first_contact: vec![None; n],
                voice_lessons: vec![0; n],
                untaught: vec![Untaught::default(); n],
                call_spend: [Money::ZERO; 2],
                texts: [0; 2],
                calls: [0; 2],
            },
            text_outcomes: BTreeMap::new(),
            deferred: 0,
            texts_received: 0,
            published_at: vec![None; scenario.published.len()],
            switched_off: None,
        })
    }

    /// Wake the dispatcher at `t`: the runtime feeds the policies the ledger's spend and the
    /// real segments of the number's lesson (the reference server's feed), then everything due
    /// is sent. Returns the deferrals by a spend cap.
    async fn wake(&self, t: Timestamp) -> Result<u64> {
        self.clock.set(t);
        self.runtime.maintain().await?;
        let mut deferred = 0;
        for _ in 0..1_000 {
            let q = ReplyQueue::queue_stats(&*self.store, t).await?;
            if q.due == 0 {
                break;
            }
            let r = self.runtime.dispatcher().tick().await?;
            deferred += r.budget_deferred;
            if r.claimed == 0 {
                break;
            }
        }
        Ok(deferred)
    }

    /// Whether the number has stopped at `now`. The operators look at the bill after every
    /// contact and every dispatcher wake-up (and switch the number off at their limit); the
    /// carrier's own suspension (prepaid funds) is checked the same way.
    fn stopped(&mut self, now: Timestamp) -> bool {
        if self.carrier.shut_off_at().is_some() || self.switched_off.is_some() {
            return true;
        }
        if let Some(limit) = self.shutoff
            && self.carrier.bill() >= limit
        {
            self.switched_off = Some(now);
            return true;
        }
        false
    }

    /// Play the contacts in time order, the clock jumping to each; in between, the dispatcher
    /// wakes every tick. Returns the index of the first contact that did not reach the number,
    /// when it stopped.
    async fn play_contacts(&mut self) -> Result<Option<usize>> {
        let traffic = self.traffic;
        for (i, ev) in traffic.events.iter().enumerate() {
            while self.next_tick <= ev.at {
                let t = self.next_tick;
                self.deferred += self.wake(t).await?;
                if self.stopped(t) {
                    return Ok(Some(i));
                }
                self.next_tick = t.add(self.step);
            }
            self.clock.set(ev.at);
            let reached = match ev.kind {
                ContactKind::Text => self.text(i, ev).await?,
                ContactKind::Call => self.call(i, ev).await?,
            };
            if !reached {
                return Ok(Some(i));
            }
            if self.stopped(ev.at) {
                return Ok(Some(i + 1));
            }
        }
        Ok(None)
    }

    /// The `i`-th contact, a text: billed by the carrier (`false` when it refused it, the
    /// number being suspended), then answered by the engine.
    async fn text(&mut self, i: usize, ev: &SimEvent) -> Result<bool> {
        let traffic = self.traffic;
        let sender = traffic.sender(ev);
        let idx = ev.sender as usize;
        if self
            .carrier
            .receive_sms(&sender.number, &traffic.number)
            .is_err()
        {
            return Ok(false);
        }
        self.texts_received += 1;
        self.ledger.texts[group(sender.actor)] += 1;
        self.ledger.first_contact[idx].get_or_insert(ev.at);
        for (k, p) in self.scenario.published.iter().enumerate() {
            if p.texts == self.texts_received {
                self.published_at[k] = Some(ev.at);
            }
        }
        let sms = InboundSms {
            provider: antirelou_core::stub::PROVIDER,
            message_id: format!("SIM-IN-{i}"),
            from: Caller::Number(sender.number.clone()),
            to: traffic.number.clone(),
            body: traffic.body(ev),
            received_at: Some(ev.at),
        };
        let outcome: SmsOutcome = self.runtime.engine().handle_sms(sms).await?;
        *self
            .text_outcomes
            .entry(outcome_label(&outcome))
            .or_default() += 1;
        if let SmsOutcome::Dropped(r) = outcome
            && let Some(label) = refusal(r)
        {
            self.ledger.untaught[idx].refused = Some(label);
        }
        Ok(true)
    }

    /// The `i`-th contact, a call: accepted by the carrier (`false` when it refused it), its
    /// script played (the lesson, the decoy greeting or a rejection) and its minutes billed.
    async fn call(&mut self, i: usize, ev: &SimEvent) -> Result<bool> {
        let traffic = self.traffic;
        let sender = traffic.sender(ev);
        let idx = ev.sender as usize;
        let g = group(sender.actor);
        if self.carrier.accept_call().is_err() {
            return Ok(false);
        }
        self.ledger.calls[g] += 1;
        self.ledger.first_contact[idx].get_or_insert(ev.at);
        let call = InboundCall {
            provider: antirelou_core::stub::PROVIDER,
            call_id: format!("SIM-CALL-{i}"),
            from: Caller::Number(sender.number.clone()),
            to: traffic.number.clone(),
        };
        let script = self.runtime.engine().handle_call(call).await?;
        if script.is_reject() {
            self.carrier.reject_call();
            self.ledger.untaught[idx].refused = Some("call_rejected");
            return Ok(true);
        }
        let voice = &self.lessons.voice;
        let heard = script
            .steps()
            .iter()
            .any(|s| matches!(s, VoiceStep::Say { text, .. } if text == voice));
        if heard {
            self.ledger.voice_lessons[idx] += 1;
        } else {
            self.ledger.untaught[idx].decoy = true;
        }
        let seconds = script.ring_seconds() + self.scenario.prices.call_seconds;
        if self.carrier.bill_call(seconds).is_err() {
            return Ok(false);
        }
        self.ledger.call_spend[g] += self.call_price * seconds.div_ceil(60).max(1);
        Ok(true)
    }

    /// Drain: keep waking the dispatcher until nothing is left (replies expire at their
    /// deadline at the latest) or the number stops. Returns the last instant simulated.
    async fn drain(&mut self) -> Result<Timestamp> {
        let sc = &self.scenario.engine;
        let horizon = self.traffic.end.add(
            duration_minutes(sc.reply_delay_minutes) + hours(sc.reply_deadline_hours) + hours(50.0),
        );
        let mut last = self.clock.now();
        while !self.stopped(last) && self.next_tick <= horizon {
            let t = self.next_tick;
            let q = ReplyQueue::queue_stats(&*self.store, t).await?;
            if q.pending == 0 && q.claimed == 0 {
                break;
            }
            self.deferred += self.wake(t).await?;
            last = t;
            self.next_tick = t.add(self.step);
        }
        Ok(last)
    }

    /// The run's figures, once the traffic is played and the queue drained at `last`: what the
    /// carrier delivered and billed, what the store still holds, the engine's counters.
    async fn finish(
        mut self,
        index: &SenderIndex,
        policy: Policy,
        last: Timestamp,
    ) -> Result<RunOutput> {
        let (scenario, traffic) = (self.scenario, self.traffic);
        let carrier = &self.carrier;
        let stop = carrier.shut_off_at().or(self.switched_off);
        let stopped_by = if self.switched_off.is_some() {
            Some("operators".to_owned())
        } else {
            carrier.shut_off_at().map(|_| "carrier".to_owned())
        };
        let end = stop.unwrap_or(last.max(self.clock.now()));

        // What the store still holds: lessons pending (deferred) or ended unsent, by sender.
        read_store_outcomes(&self.store, traffic, index, &mut self.ledger.untaught).await?;

        let stats = self.runtime.engine().stats().await?;
        let cstats = carrier.stats();
        let delivered = Deliveries::of(carrier, traffic, index);
        let delay = duration_minutes(scenario.engine.reply_delay_minutes);
        let [legit, attack] = sender_outcomes(traffic, &self.ledger, &delivered, stop, delay);
        let series = carrier.spend_series();
        let mut curve: Vec<(f64, f64)> = series
            .iter()
            .map(|(t, m)| (hours_since(traffic.start, *t), m.as_units_f64()))
            .collect();
        curve.insert(0, (0.0, 0.0));
        curve.push((
            hours_since(traffic.start, end),
            cstats.total().as_units_f64(),
        ));
        // The bill when the reply to the N-th text was due: the reply delay and the whole
        // jitter after it.
        let answered = delay + duration_minutes(scenario.engine.reply_jitter_minutes);
        let bill_at_published_texts = bills_when_due(&self.published_at, &series, answered, end);

        Ok(RunOutput {
            report: RunReport {
                policy,
                inbound_texts: cstats.inbound_sms,
                legit_senders: legit.senders,
                legit_senders_with_one_lesson: legit.one_lesson,
                legit_senders_with_several_lessons: legit.several_lessons,
                lessons_sent: delivered.lessons_sent,
                segments_sent: cstats.segments_sent,
                spend_eur: eur(cstats.total()),
                reply_spend_on_attack_eur: attack.reply_spend_eur,
                reply_spend_by_attacker_eur: Actor::ALL
                    .iter()
                    .zip(delivered.reply_spend_by_actor)
                    .filter(|(a, _)| a.is_attack() && traffic.senders_of(**a) > 0)
                    .map(|(a, m)| (a.as_str().to_owned(), eur(m)))
                    .collect(),
                stopped_for_budget: stop.is_some(),
                legit_senders_without_lesson: legit.no_lesson,
                voice_lessons: self
                    .ledger
                    .voice_lessons
                    .iter()
                    .map(|v| u64::from(*v))
                    .sum(),
                neutral_replies_sent: delivered.neutral,
                texts_offered: traffic.texts() as u64,
                calls_offered: traffic.calls() as u64,
                spend_inbound_eur: eur(cstats.spend_inbound_sms),
                spend_calls_eur: eur(cstats.spend_calls),
                spend_replies_eur: eur(cstats.spend_outbound),
                stopped_at: stop.map(|t| t.to_string()),
                stopped_at_local: stop.map(|t| scenario.local_label(t)),
                stopped_by,
                replies_deferred_by_cap: self.deferred,
                dropped: counters_with_prefix(&stats, "drop."),
                deferred: counters_with_prefix(&stats, "deferred."),
                short_form_lessons: stats.counter("lesson.short_form"),
                text_outcomes: self.text_outcomes,
                legit,
                attack,
                bill_at_published_texts,
                max_daily_reply_spend_eur: delivered.daily.values().copied().max().map_or(0.0, eur),
            },
            spend_curve: curve,
            stopped_hours: stop.map(|t| hours_since(traffic.start, t)),
            reply_curve: delivered.reply_curve,
        })
    }
}

/// Hours from `start` to `t`.
fn hours_since(start: Timestamp, t: Timestamp) -> f64 {
    t.since(start).as_secs_f64() / 3600.0
}

/// The engine's counters whose name starts with `prefix`, with their full names.
fn counters_with_prefix(stats: &EngineStats, prefix: &str) -> BTreeMap<String, u64> {
    stats
        .counters
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

/// For each instant a published figure's text arrived: the bill when its reply was due
/// (`answered` later), the last point of the spend series at or before that instant; `None`
/// when the text never came or its reply was due after the run's `end`.
fn bills_when_due(
    published_at: &[Option<Timestamp>],
    series: &[(Timestamp, Money)],
    answered: Duration,
    end: Timestamp,
) -> Vec<Option<f64>> {
    published_at
        .iter()
        .map(|t| {
            let due = t.as_ref()?.add(answered);
            if due > end {
                return None;
            }
            let bill = series
                .iter()
                .take_while(|(at, _)| *at <= due)
                .last()
                .map_or(Money::ZERO, |(_, m)| *m);
            Some(eur(bill))
        })
        .collect()
}

/// What the carrier delivered: the replies by sender, kind and day, and their cumulative cost.
struct Deliveries {
    /// SMS lessons delivered to each sender.
    sms_lessons: Vec<u32>,
    /// When each sender's first SMS lesson was delivered.
    first_lesson: Vec<Option<Timestamp>>,
    /// What the replies cost, by actor ([`Actor::ALL`] order).
    reply_spend_by_actor: [Money; Actor::ALL.len()],
    neutral: u64,
    lessons_sent: u64,
    /// Reply spend by UTC day (days since the epoch).
    daily: BTreeMap<i64, Money>,
    /// `(hours since the start, cumulative reply spend)`, one point per minute with spend.
    reply_curve: Vec<(f64, f64)>,
}

impl Deliveries {
    /// What the replies to the senders of group `g` cost (legitimate senders 0, attackers 1).
    fn reply_spend_of(&self, g: usize) -> Money {
        Actor::ALL
            .iter()
            .zip(self.reply_spend_by_actor)
            .filter(|(a, _)| group(**a) == g)
            .fold(Money::ZERO, |sum, (_, m)| sum + m)
    }

    /// Read the carrier's deliveries of a run of `traffic`.
    fn of(carrier: &SimCarrier, traffic: &Traffic, index: &SenderIndex) -> Self {
        let n = traffic.senders.len();
        let mut d = Deliveries {
            sms_lessons: vec![0; n],
            first_lesson: vec![None; n],
            reply_spend_by_actor: [Money::ZERO; Actor::ALL.len()],
            neutral: 0,
            lessons_sent: 0,
            daily: BTreeMap::new(),
            reply_curve: vec![(0.0, 0.0)],
        };
        let mut replies_total = Money::ZERO;
        carrier.with_delivered(|ds| {
            for delivered in ds {
                replies_total += delivered.price;
                let h = hours_since(traffic.start, delivered.at);
                match d.reply_curve.last_mut() {
                    Some(last) if (last.0 * 60.0).floor() == (h * 60.0).floor() => {
                        *last = (h, eur(replies_total));
                    }
                    _ => d.reply_curve.push((h, eur(replies_total))),
                }
                *d.daily
                    .entry(delivered.at.as_millis().div_euclid(86_400_000))
                    .or_insert(Money::ZERO) += delivered.price;
                let Some(&idx) = index.0.get(&delivered.to.key()) else {
                    continue;
                };
                let i = idx as usize;
                let actor = traffic.senders[i].actor;
                if let Some(a) = Actor::ALL.iter().position(|x| *x == actor) {
                    d.reply_spend_by_actor[a] += delivered.price;
                }
                match delivered.reply_kind {
                    Some(ReplyKind::Lesson) => {
                        d.lessons_sent += 1;
                        d.sms_lessons[i] += 1;
                        d.first_lesson[i].get_or_insert(delivered.at);
                    }
                    Some(ReplyKind::Neutral) => d.neutral += 1,
                    None => {}
                }
            }
        });
        d
    }
}

/// What became of each sender, legitimate senders then attackers: one lesson (and how late
/// against the first contact plus `delay`), several, or none and why. `stop` is when the number
/// stopped, if it did.
fn sender_outcomes(
    traffic: &Traffic,
    ledger: &Ledger,
    delivered: &Deliveries,
    stop: Option<Timestamp>,
    delay: Duration,
) -> [SenderOutcomes; 2] {
    let mut out = [SenderOutcomes::default(), SenderOutcomes::default()];
    for (i, s) in traffic.senders.iter().enumerate() {
        let o = &mut out[group(s.actor)];
        o.senders += 1;
        let Some(first) = ledger.first_contact[i] else {
            // Never reached the number (it was switched off before his first contact).
            o.no_lesson += 1;
            *o.refused.entry("number_switched_off".into()).or_default() += 1;
            continue;
        };
        let voice = ledger.voice_lessons[i];
        match delivered.sms_lessons[i] + voice {
            0 => {
                o.no_lesson += 1;
                let u = &ledger.untaught[i];
                if u.pending && stop.is_none() {
                    o.still_deferred += 1;
                } else {
                    *o.refused.entry(u.why()).or_default() += 1;
                }
            }
            1 => {
                o.one_lesson += 1;
                let late = if voice == 1 {
                    0.0
                } else {
                    delivered.first_lesson[i].map_or(f64::INFINITY, |t| {
                        (t.as_millis() - first.add(delay).as_millis()) as f64 / 3_600_000.0
                    })
                };
                o.one_lesson_within_1h += u64::from(late <= 1.0);
                o.one_lesson_within_24h += u64::from(late <= 24.0);
                o.one_lesson_within_72h += u64::from(late <= 72.0);
            }
            _ => o.several_lessons += 1,
        }
    }
    for (g, o) in out.iter_mut().enumerate() {
        o.texts = ledger.texts[g];
        o.calls = ledger.calls[g];
        o.reply_spend_eur = eur(delivered.reply_spend_of(g));
        o.call_spend_eur = eur(ledger.call_spend[g]);
    }
    out
}

/// Read every reply the store holds at the end of a run: a lesson still pending or claimed is
/// deferred; one that ended unsent (expired, cancelled, failed) says why. A reply the retention
/// purge deleted (ended longer ago than the retention) is no longer there to say it.
async fn read_store_outcomes(
    store: &InMemoryStore,
    traffic: &Traffic,
    index: &SenderIndex,
    untaught: &mut [Untaught],
) -> Result<()> {
    let mut by_hash: Option<HashMap<SenderHash, u32>> = None;
    for id in 1..=store.last_reply_id() {
        let Some(r) = ReplyQueue::get(store, id).await? else {
            continue;
        };
        if r.kind != ReplyKind::Lesson || r.state == ReplyState::Sent {
            continue;
        }
        let idx = match &r.recipient {
            Some(p) => index.0.get(&p.key()).copied(),
            None => {
                let map = by_hash.get_or_insert_with(|| {
                    let hasher = NumberHasher::new(SIM_SECRET).ok();
                    traffic
                        .senders
                        .iter()
                        .enumerate()
                        .filter_map(|(i, s)| Some((hasher.as_ref()?.hash(&s.number), i as u32)))
                        .collect()
                });
                map.get(&r.sender).copied()
            }
        };
        let Some(idx) = idx else { continue };
        let u = &mut untaught[idx as usize];
        match r.state {
            ReplyState::Pending | ReplyState::Claimed => u.pending = true,
            state => {
                let why = r.last_error.as_deref().unwrap_or("");
                u.ended = Some(if why.is_empty() {
                    state.as_str().to_owned()
                } else {
                    format!("{}: {why}", state.as_str())
                });
            }
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use antirelou_core::event::Channel;
    use antirelou_core::store::SenderHistory;

    use super::*;
    use crate::carrier::Prices;

    /// The sim's runtime purges as the server's does, on the virtual clock: at its first wake-up,
    /// not again within the hour, and then it forgets a sender not seen within the lesson window.
    #[tokio::test]
    async fn the_sim_runtime_purges_on_the_virtual_clock() {
        let t0 = Timestamp::from_secs(1_509_000_000);
        let clock = ManualClock::new(t0);
        let carrier = SimCarrier::new(Arc::new(clock.clone()), Prices::paris_2017());
        let store = Arc::new(InMemoryStore::new());
        let day = Duration::from_secs(86_400);
        let engine = Engine::builder(store.clone(), NumberHasher::new(SIM_SECRET).unwrap())
            .clock(Arc::new(clock.clone()))
            .config(EngineConfig {
                lesson_window: day,
                ..EngineConfig::default()
            })
            .build()
            .unwrap();
        let runtime = sim_runtime(&engine, &carrier);
        let sender = SenderHash([7; 16]);
        store
            .record_contact(&sender, Channel::Sms, t0)
            .await
            .unwrap();

        let first = runtime.maintain().await.unwrap();
        assert_eq!(first.purge.map(|p| p.senders), Some(0), "purged at once");
        clock.set(t0.add(Duration::from_secs(1800)));
        let soon = runtime.maintain().await.unwrap();
        assert!(soon.purge.is_none(), "not again within the hour");
        clock.set(t0.add(2 * day));
        let later = runtime.maintain().await.unwrap();
        assert_eq!(later.purge.map(|p| p.senders), Some(1));
        assert!(store.sender(&sender).await.unwrap().is_none());
    }
}
