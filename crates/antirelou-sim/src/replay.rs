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
use antirelou_core::engine::{Engine, EngineConfig, NumberConfig, Transports};
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

#[allow(clippy::too_many_lines)]
async fn run_async(
    scenario: &Scenario,
    traffic: &Traffic,
    index: &SenderIndex,
    seed: u64,
    policy: Policy,
    operators_stop: bool,
) -> Result<RunOutput> {
    let sc = &scenario.engine;
    let clock = ManualClock::new(traffic.start);
    let shared_clock: Arc<dyn Clock> = Arc::new(clock.clone());
    let mut carrier = SimCarrier::new(shared_clock.clone(), scenario.carrier_prices())
        .with_faults(scenario.fault_plan(seed)?);
    if let Some(funds) = scenario.budget.funds() {
        carrier = carrier.with_funds(funds);
    }
    let shutoff = if operators_stop {
        scenario.budget.operator_shutoff()
    } else {
        None
    };
    carrier.classify(&scenario.number.lesson, ReplyKind::Lesson);
    carrier.classify(&scenario.number.neutral_reply, ReplyKind::Neutral);

    let locale = Locale::new(&scenario.number.locale)
        .map_err(|e| SimError::scenario(&scenario.name, e.to_string()))?;
    let number = traffic.number.clone();
    let lessons = lesson_set(scenario, &locale);
    // The short form the engine sends under budget pressure is a lesson too.
    if let Some(short) = &lessons.sms_short {
        carrier.classify(short, ReplyKind::Lesson);
    }
    let mut catalogue = Catalogue::default();
    catalogue.insert(lessons.clone());
    let mut number_config =
        NumberConfig::new(number.clone(), locale, antirelou_core::stub::PROVIDER);

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
            // `[abuse.defer]`: how deferred lessons are held (the server's names and defaults).
            scenario.abuse.defer.apply(&mut config);
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
            let p = DefaultPolicies::new(number.region(), &abuse)
                .map_err(|e| SimError::scenario(&scenario.name, e.to_string()))?;
            Arc::new(p.chain())
        }
    };
    let store = Arc::new(InMemoryStore::new());
    let engine = Engine::builder(store.clone(), NumberHasher::new(SIM_SECRET)?)
        .clock(shared_clock.clone())
        .policy(policy_impl)
        .catalogue(catalogue)
        .config(config)
        .number(number_config)
        .build()?;
    // The reference server's wiring (the core runtime), stepped on virtual time: the spend is
    // fed to the policies at every wake-up; the retention purge is left out, since the report
    // reads the whole store at the end.
    let runtime = Runtime::builder(
        engine.clone(),
        Transports::new().with(
            antirelou_core::stub::PROVIDER,
            Arc::new(carrier.clone()),
            None,
        ),
    )
    .spend_every(Duration::ZERO)
    .no_purge()
    .build();
    let dispatcher = runtime.dispatcher();

    let step = Duration::from_secs(sc.tick_seconds);
    let mut next_tick = traffic.start.add(step);
    let n = traffic.senders.len();
    let mut ledger = Ledger {
        first_contact: vec![None; n],
        voice_lessons: vec![0; n],
        untaught: vec![Untaught::default(); n],
        call_spend: [Money::ZERO; 2],
        texts: [0; 2],
        calls: [0; 2],
    };
    let mut text_outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let mut deferred = 0u64;
    let call_seconds = scenario.prices.call_seconds;
    let call_price = scenario.carrier_prices().inbound_call_per_minute;
    let mut texts_received = 0u64;
    let mut published_at: Vec<Option<Timestamp>> = vec![None; scenario.published.len()];
    let mut switched_off: Option<Timestamp> = None;

    // Wake the dispatcher at `t`: the runtime feeds the policies the ledger's spend and the real
    // segments of the number's lesson (the reference server's feed), then send everything due.
    let wake = |t: Timestamp| {
        clock.set(t);
        let dispatcher = &dispatcher;
        let store = &store;
        let runtime = &runtime;
        async move {
            runtime.maintain().await?;
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
    // The operators look at the bill after every contact and every dispatcher wake-up; the
    // carrier's own suspension (prepaid funds) is checked the same way.
    let mut stopped = |now: Timestamp| -> bool {
        if carrier.shut_off_at().is_some() || switched_off.is_some() {
            return true;
        }
        if let Some(limit) = shutoff
            && carrier.bill() >= limit
        {
            switched_off = Some(now);
            return true;
        }
        false
    };

    let mut cut_at = None;
    'events: for (i, ev) in traffic.events.iter().enumerate() {
        while next_tick <= ev.at {
            deferred += wake(next_tick).await?;
            if stopped(next_tick) {
                cut_at = Some(i);
                break 'events;
            }
            next_tick = next_tick.add(step);
        }
        clock.set(ev.at);
        let sender = traffic.sender(ev);
        let idx = ev.sender as usize;
        let g = group(sender.actor);
        match ev.kind {
            ContactKind::Text => {
                if carrier.receive_sms(&sender.number, &number).is_err() {
                    cut_at = Some(i);
                    break;
                }
                texts_received += 1;
                ledger.texts[g] += 1;
                ledger.first_contact[idx].get_or_insert(ev.at);
                for (k, p) in scenario.published.iter().enumerate() {
                    if p.texts == texts_received {
                        published_at[k] = Some(ev.at);
                    }
                }
                let sms = InboundSms {
                    provider: antirelou_core::stub::PROVIDER,
                    message_id: format!("SIM-IN-{i}"),
                    from: Caller::Number(sender.number.clone()),
                    to: number.clone(),
                    body: traffic.body(ev),
                    received_at: Some(ev.at),
                };
                let outcome: SmsOutcome = engine.handle_sms(sms).await?;
                *text_outcomes.entry(outcome_label(&outcome)).or_default() += 1;
                if let SmsOutcome::Dropped(r) = outcome
                    && let Some(label) = refusal(r)
                {
                    ledger.untaught[idx].refused = Some(label);
                }
            }
            ContactKind::Call => {
                if carrier.accept_call().is_err() {
                    cut_at = Some(i);
                    break;
                }
                ledger.calls[g] += 1;
                ledger.first_contact[idx].get_or_insert(ev.at);
                let call = InboundCall {
                    provider: antirelou_core::stub::PROVIDER,
                    call_id: format!("SIM-CALL-{i}"),
                    from: Caller::Number(sender.number.clone()),
                    to: number.clone(),
                };
                let script = engine.handle_call(call).await?;
                if script.is_reject() {
                    carrier.reject_call();
                    ledger.untaught[idx].refused = Some("call_rejected");
                } else {
                    let heard = script.steps().iter().any(
                        |s| matches!(s, VoiceStep::Say { text, .. } if *text == lessons.voice),
                    );
                    if heard {
                        ledger.voice_lessons[idx] += 1;
                    } else {
                        ledger.untaught[idx].decoy = true;
                    }
                    let seconds = script.ring_seconds() + call_seconds;
                    if carrier.bill_call(seconds).is_err() {
                        cut_at = Some(i);
                        break;
                    }
                    ledger.call_spend[g] += call_price * seconds.div_ceil(60).max(1);
                }
            }
        }
        if stopped(ev.at) {
            cut_at = Some(i + 1);
            break;
        }
    }
    // Contacts that never reached the number because it was switched off.
    if let Some(from) = cut_at {
        for ev in &traffic.events[from..] {
            ledger.untaught[ev.sender as usize].shut_out = true;
        }
    }
    // Drain: keep waking the dispatcher until nothing is left (replies expire at their
    // deadline at the latest).
    let horizon = traffic.end.add(
        duration_minutes(sc.reply_delay_minutes) + hours(sc.reply_deadline_hours) + hours(50.0),
    );
    let mut last = clock.now();
    while !stopped(last) && next_tick <= horizon {
        let q = antirelou_core::store::ReplyQueue::queue_stats(&*store, next_tick).await?;
        if q.pending == 0 && q.claimed == 0 {
            break;
        }
        deferred += wake(next_tick).await?;
        last = next_tick;
        next_tick = next_tick.add(step);
    }
    let stop = carrier.shut_off_at().or(switched_off);
    let stopped_by = if switched_off.is_some() {
        Some("operators".to_owned())
    } else {
        carrier.shut_off_at().map(|_| "carrier".to_owned())
    };
    let end = stop.unwrap_or(last.max(clock.now()));

    // What the store still holds: lessons pending (deferred) or ended unsent, by sender.
    read_store_outcomes(&store, traffic, index, &mut ledger.untaught).await?;

    let stats = engine.stats().await?;
    let cstats = carrier.stats();
    let mut sms_lessons = vec![0u32; n];
    let mut first_lesson: Vec<Option<Timestamp>> = vec![None; n];
    let mut reply_spend = [Money::ZERO; 2];
    let mut neutral = 0u64;
    let mut lessons_sent = 0u64;
    let mut daily: BTreeMap<i64, Money> = BTreeMap::new();
    let mut reply_curve: Vec<(f64, f64)> = vec![(0.0, 0.0)];
    let mut replies_total = Money::ZERO;
    carrier.with_delivered(|ds| {
        for d in ds {
            replies_total += d.price;
            let h = d.at.since(traffic.start).as_secs_f64() / 3600.0;
            match reply_curve.last_mut() {
                Some(last) if (last.0 * 60.0).floor() == (h * 60.0).floor() => {
                    *last = (h, eur(replies_total));
                }
                _ => reply_curve.push((h, eur(replies_total))),
            }
            *daily
                .entry(d.at.as_millis().div_euclid(86_400_000))
                .or_insert(Money::ZERO) += d.price;
            let Some(&idx) = index.0.get(&d.to.key()) else {
                continue;
            };
            let i = idx as usize;
            reply_spend[group(traffic.senders[i].actor)] += d.price;
            match d.reply_kind {
                Some(ReplyKind::Lesson) => {
                    lessons_sent += 1;
                    sms_lessons[i] += 1;
                    first_lesson[i].get_or_insert(d.at);
                }
                Some(ReplyKind::Neutral) => neutral += 1,
                None => {}
            }
        }
    });
    let delay = duration_minutes(sc.reply_delay_minutes);
    let mut out = [SenderOutcomes::default(), SenderOutcomes::default()];
    for (i, s) in traffic.senders.iter().enumerate() {
        let Some(first) = ledger.first_contact[i] else {
            // Never reached the number (it was switched off before his first contact).
            let o = &mut out[group(s.actor)];
            o.senders += 1;
            o.no_lesson += 1;
            *o.refused.entry("number_switched_off".into()).or_default() += 1;
            continue;
        };
        let o = &mut out[group(s.actor)];
        o.senders += 1;
        let voice = ledger.voice_lessons[i];
        match sms_lessons[i] + voice {
            0 => {
                o.no_lesson += 1;
                let u = &ledger.untaught[i];
                if u.pending && stop.is_none() {
                    o.still_deferred += 1;
                } else {
                    let why = if u.pending || (u.shut_out && u.ended.is_none()) {
                        "number_switched_off".to_owned()
                    } else if let Some(e) = &u.ended {
                        e.clone()
                    } else if let Some(r) = u.refused {
                        r.to_owned()
                    } else if u.decoy {
                        "heard_decoy_greeting_only".to_owned()
                    } else {
                        "unknown".to_owned()
                    };
                    *o.refused.entry(why).or_default() += 1;
                }
            }
            1 => {
                o.one_lesson += 1;
                let late = if voice == 1 {
                    0.0
                } else {
                    first_lesson[i].map_or(f64::INFINITY, |t| {
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
        o.reply_spend_eur = eur(reply_spend[g]);
        o.call_spend_eur = eur(ledger.call_spend[g]);
    }
    let [legit, attack] = out;

    let dropped = stats
        .counters
        .iter()
        .filter(|(k, _)| k.starts_with("drop."))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    let deferred_counts = stats
        .counters
        .iter()
        .filter(|(k, _)| k.starts_with("deferred."))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    let short_form_lessons = stats.counter("lesson.short_form");
    let series = carrier.spend_series();
    let mut curve: Vec<(f64, f64)> = series
        .iter()
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
    // The bill when the reply to the N-th text was due (the reply delay and the whole jitter
    // after it): the last point of the series at or before that instant.
    let answered = delay + duration_minutes(sc.reply_jitter_minutes);
    let bill_at_published_texts = published_at
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
        .collect();

    Ok(RunOutput {
        report: RunReport {
            policy,
            inbound_texts: cstats.inbound_sms,
            legit_senders: legit.senders,
            legit_senders_with_one_lesson: legit.one_lesson,
            legit_senders_with_several_lessons: legit.several_lessons,
            lessons_sent,
            segments_sent: cstats.segments_sent,
            spend_eur: eur(cstats.total()),
            reply_spend_on_attack_eur: attack.reply_spend_eur,
            stopped_for_budget: stop.is_some(),
            legit_senders_without_lesson: legit.no_lesson,
            voice_lessons: ledger.voice_lessons.iter().map(|v| u64::from(*v)).sum(),
            neutral_replies_sent: neutral,
            texts_offered: traffic.texts() as u64,
            calls_offered: traffic.calls() as u64,
            spend_inbound_eur: eur(cstats.spend_inbound_sms),
            spend_calls_eur: eur(cstats.spend_calls),
            spend_replies_eur: eur(cstats.spend_outbound),
            stopped_at: stop.map(|t| t.to_string()),
            stopped_at_local: stop.map(|t| scenario.local_label(t)),
            stopped_by,
            replies_deferred_by_cap: deferred,
            dropped,
            deferred: deferred_counts,
            short_form_lessons,
            text_outcomes,
            legit,
            attack,
            bill_at_published_texts,
            max_daily_reply_spend_eur: daily.values().copied().max().map_or(0.0, eur),
        },
        spend_curve: curve,
        stopped_hours: stop.map(|t| t.since(traffic.start).as_secs_f64() / 3600.0),
        reply_curve,
    })
}

/// Read every reply the store holds at the end of a run: a lesson still pending or claimed is
/// deferred; one that ended unsent (expired, cancelled, failed) says why.
async fn read_store_outcomes(
    store: &InMemoryStore,
    traffic: &Traffic,
    index: &SenderIndex,
    untaught: &mut [Untaught],
) -> Result<()> {
    let mut by_hash: Option<HashMap<SenderHash, u32>> = None;
    for id in 1..=store.reply_count() as u64 {
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
