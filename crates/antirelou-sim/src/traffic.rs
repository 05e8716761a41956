//! Traffic models: who contacts the number, when, and how.
//!
//! [`generate`] turns a [`TrafficPlan`] (what a [`Scenario`](crate::Scenario) describes) and a seed into a time-ordered [`Traffic`]: a table of
//! senders (each a valid [`PhoneNumber`] with its [`Actor`]) and a list of [`SimEvent`]s (a text
//! or a call from one of them at a virtual instant). Each model draws from its own ChaCha8
//! stream, so the same scenario and seed always give the same traffic, on any machine.
//!
//! The models:
//! * **legitimate senders** — arrivals follow a daily rhythm (24 hourly weights); some text more
//!   than once (minutes to hours apart); some call first to check the number, then text;
//! * **media spikes** — extra legitimate senders after an article or a broadcast, decaying
//!   exponentially;
//! * **raids** — a few hundred numbers, each sending many texts in bursts a few seconds apart;
//! * **spoofed floods** — many distinct random numbers, each sending once;
//! * **SMS pumping** — blocks of consecutive numbers in premium-rate or foreign ranges.
//!
//! Every text carries a body ([`Body`], read with [`Traffic::body`]): men's texts are varied (a
//! greeting, a name, a place, a question; one in ten a bare greeting), an attack's are either
//! copy-pasted from the scenario's `bodies` or varied, so that a defence reading the texts sees
//! what it would see live. Raiders may also call (`calls_per_number`).
//!
//! Numbers are built as E.164 strings and validated once by libphonenumber
//! ([`PhoneNumber::parse`]); all senders of a scenario are distinct.

use std::collections::HashSet;
use std::time::Duration;

use antirelou_core::{PhoneNumber, Timestamp};
use chrono::Timelike;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Result, SimError};
use crate::model::{LegitModel, PumpingModel, RaidModel, SpoofedModel};

/// Who is behind a contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// A man who was given the number: he should get the lesson, once.
    Legit,
    /// A raider from a forum, sending many texts to run up the bill.
    Raid,
    /// A spoofed sender: an innocent third party's number, sending once.
    Spoofed,
    /// A premium-rate or foreign number pumping replies for revenue share.
    Pumping,
}

impl Actor {
    /// Every actor.
    pub const ALL: [Actor; 4] = [Actor::Legit, Actor::Raid, Actor::Spoofed, Actor::Pumping];

    /// Whether the actor is an attacker (a reply to it is money lost).
    pub fn is_attack(self) -> bool {
        self != Actor::Legit
    }

    /// A stable lowercase label.
    pub fn as_str(self) -> &'static str {
        match self {
            Actor::Legit => "legit",
            Actor::Raid => "raid",
            Actor::Spoofed => "spoofed",
            Actor::Pumping => "pumping",
        }
    }
}

/// A text or a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactKind {
    /// An inbound text.
    Text,
    /// An inbound call.
    Call,
}

/// One sender of the traffic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sender {
    /// The number.
    pub number: PhoneNumber,
    /// Who it is.
    pub actor: Actor,
}

/// One inbound contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimEvent {
    /// When it reaches the number.
    pub at: Timestamp,
    /// Text or call.
    pub kind: ContactKind,
    /// Index into [`Traffic::senders`].
    pub sender: u32,
    /// What the text says (calls have an empty body); read it with [`Traffic::body`].
    pub body: Body,
}

/// The body of a simulated text, kept small: a copy-pasted text is an index into
/// [`Traffic::bodies`]; a text of its own is a seed from which [`Traffic::body`] writes it, so a
/// million-text flood stores no million strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Body {
    /// No text (a call).
    None,
    /// One of the scenario's fixed texts ([`Traffic::bodies`]), shared by every sender who
    /// copy-pastes it.
    Fixed(u32),
    /// A man's own text: varied words, a name, a place (seeded).
    Legit(u64),
    /// An attacker's own text, varied by hand or by a script (seeded).
    Varied(u64),
}

const GREETINGS: [&str; 10] = [
    "Salut", "Coucou", "Hello", "Bonsoir", "Hey", "Yo", "Re", "Bonjour", "Slt", "Cc",
];
const NAMES: [&str; 24] = [
    "Karim", "Julien", "Marc", "Thomas", "Kevin", "Nico", "Max", "Alex", "Mehdi", "Romain",
    "Antoine", "Seb", "Yanis", "Hugo", "Lucas", "Enzo", "Paul", "Sofiane", "Bastien", "Dylan",
    "Theo", "Jordan", "Adrien", "Samir",
];
const PLACES: [&str; 16] = [
    "du bar",
    "du metro",
    "de la soiree",
    "du bus",
    "de la terrasse",
    "du concert",
    "de la salle de sport",
    "du marche",
    "de la gare",
    "du cafe",
    "de la boulangerie",
    "du RER",
    "de la fac",
    "du parc",
    "de la boite",
    "du tram",
];
const ASKS: [&str; 16] = [
    "on se revoit quand ?",
    "tu fais quoi ce soir ?",
    "t'es bien rentree ?",
    "j'ai kiffe te parler",
    "un verre demain ?",
    "tu reponds pas ?",
    "je voulais te redire que t'es charmante",
    "dispo ce week-end ?",
    "on peut s'appeler ?",
    "tu m'as dit de t'ecrire",
    "c'etait sympa tout a l'heure",
    "t'as oublie ton sourire",
    "je passe te chercher ?",
    "alors ?",
    "tu me donnes ton insta ?",
    "on finit la discussion ?",
];
const TROLLS: [&str; 12] = [
    "lol",
    "Kikoo",
    "c'est qui ?",
    "je suis un relou",
    "mdr ca marche ?",
    "Bonjour madame",
    "raid",
    "ALLO",
    "coucou toi",
    "t'es ou",
    "hihi",
    "on s'est vu ou ?",
];

/// SplitMix64: a tiny deterministic mixer for the seeded bodies.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn pick<'a>(list: &[&'a str], z: u64) -> &'a str {
    list[(z % list.len() as u64) as usize]
}

/// A man's text: one in ten is a bare greeting (many men write just "Salut"; a copy-paste
/// defence must not take them for a raid), the others a greeting, a name, a place and a question.
fn legit_text(seed: u64) -> String {
    let z = mix(seed);
    let g = pick(&GREETINGS, z);
    if z.is_multiple_of(10) {
        return g.to_owned();
    }
    let (n, p, a) = (
        pick(&NAMES, z >> 8),
        pick(&PLACES, z >> 16),
        pick(&ASKS, z >> 24),
    );
    match (z >> 32) % 4 {
        0 => format!("{g} c'est {n} {p}, {a}"),
        1 => format!("{g} ! {n} {p} :) {a}"),
        2 => format!("{g}, moi c'est {n}, on s'est croises {p}. {a}"),
        _ => format!("{n} {p}. {a}"),
    }
}

/// An attacker's own text: a troll line with a varying tail (a script varies its texts so
/// that no two are the same).
fn varied_text(seed: u64) -> String {
    let z = mix(seed ^ 0x7A11);
    format!("{} {}", pick(&TROLLS, z), (z >> 8) % 100_000)
}

/// The generated traffic of a scenario, in time order.
#[derive(Clone, Debug)]
pub struct Traffic {
    /// Our number: every contact is to it.
    pub number: PhoneNumber,
    /// Start of the window.
    pub start: Timestamp,
    /// End of the window (a late caller's first text may come a few minutes past it).
    pub end: Timestamp,
    /// The senders; [`SimEvent::sender`] indexes this.
    pub senders: Vec<Sender>,
    /// The contacts, sorted by time.
    pub events: Vec<SimEvent>,
    /// The fixed (copy-pasted) texts, indexed by [`Body::Fixed`].
    pub bodies: Vec<String>,
}

impl Traffic {
    /// The text of an event (empty for a call).
    pub fn body(&self, ev: &SimEvent) -> String {
        match ev.body {
            Body::None => String::new(),
            Body::Fixed(i) => self.bodies.get(i as usize).cloned().unwrap_or_default(),
            Body::Legit(seed) => legit_text(seed),
            Body::Varied(seed) => varied_text(seed),
        }
    }

    /// The sender of an event.
    pub fn sender(&self, ev: &SimEvent) -> &Sender {
        &self.senders[ev.sender as usize]
    }

    /// How many senders of this kind there are.
    pub fn senders_of(&self, actor: Actor) -> usize {
        self.senders.iter().filter(|s| s.actor == actor).count()
    }

    /// How many texts this kind of sender sends.
    pub fn texts_of(&self, actor: Actor) -> usize {
        self.events
            .iter()
            .filter(|e| e.kind == ContactKind::Text && self.sender(e).actor == actor)
            .count()
    }

    /// How many texts in all.
    pub fn texts(&self) -> usize {
        self.events
            .iter()
            .filter(|e| e.kind == ContactKind::Text)
            .count()
    }

    /// How many calls in all.
    pub fn calls(&self) -> usize {
        self.events
            .iter()
            .filter(|e| e.kind == ContactKind::Call)
            .count()
    }

    /// How many distinct senders of this kind send at least one text.
    pub fn texting_senders_of(&self, actor: Actor) -> usize {
        let mut seen = vec![false; self.senders.len()];
        for e in &self.events {
            if e.kind == ContactKind::Text && self.sender(e).actor == actor {
                seen[e.sender as usize] = true;
            }
        }
        seen.iter().filter(|s| **s).count()
    }
}

/// A duration of `h` hours (negative or NaN: zero).
pub fn hours(h: f64) -> Duration {
    if h.is_finite() && h > 0.0 {
        Duration::from_secs_f64(h * 3600.0)
    } else {
        Duration::ZERO
    }
}

struct Builder {
    used: HashSet<u64>,
    senders: Vec<Sender>,
    events: Vec<SimEvent>,
    bodies: Vec<String>,
}

impl Builder {
    /// The indexes of these fixed texts in the body table (each stored once).
    fn fixed_bodies(&mut self, texts: &[String]) -> Vec<u32> {
        texts
            .iter()
            .map(|t| {
                let at = self.bodies.iter().position(|b| b == t).unwrap_or_else(|| {
                    self.bodies.push(t.clone());
                    self.bodies.len() - 1
                });
                at as u32
            })
            .collect()
    }

    fn add_sender(&mut self, number: PhoneNumber, actor: Actor) -> u32 {
        let id = self.senders.len() as u32;
        self.senders.push(Sender { number, actor });
        id
    }

    fn push(&mut self, at: Timestamp, kind: ContactKind, sender: u32, body: Body) {
        let body = if kind == ContactKind::Call {
            Body::None
        } else {
            body
        };
        self.events.push(SimEvent {
            at,
            kind,
            sender,
            body,
        });
    }

    /// `count` fresh random valid numbers, drawn in batches and parsed in parallel.
    fn random_numbers(
        &mut self,
        rng: &mut ChaCha8Rng,
        prefixes: &[String],
        digits: u32,
        count: usize,
    ) -> Result<Vec<PhoneNumber>> {
        let max = 10u64.pow(digits);
        let mut out = Vec::with_capacity(count);
        let mut rounds = 0;
        while out.len() < count {
            rounds += 1;
            if rounds > 50 {
                return Err(SimError::scenario(
                    "traffic",
                    format!(
                        "could not draw {count} valid numbers from {prefixes:?} with {digits} digits"
                    ),
                ));
            }
            let want = (count - out.len()) + (count - out.len()) / 8 + 16;
            let mut candidates = Vec::with_capacity(want);
            let mut drawn = HashSet::with_capacity(want);
            for _ in 0..want {
                let p = &prefixes[rng.random_range(0..prefixes.len())];
                let e164 = format!(
                    "{p}{:0width$}",
                    rng.random_range(0..max),
                    width = digits as usize
                );
                let Ok(key) = e164[1..].parse::<u64>() else {
                    continue;
                };
                if !self.used.contains(&key) && drawn.insert(key) {
                    candidates.push(e164);
                }
            }
            for n in parse_all(&candidates).into_iter().flatten() {
                if out.len() < count && self.used.insert(n.key()) {
                    out.push(n);
                }
            }
        }
        Ok(out)
    }

    /// A fresh random valid number: `prefix` followed by `digits` random digits.
    fn random_number(
        &mut self,
        rng: &mut ChaCha8Rng,
        prefixes: &[String],
        digits: u32,
    ) -> Result<PhoneNumber> {
        let max = 10u64.pow(digits);
        for _ in 0..10_000 {
            let p = &prefixes[rng.random_range(0..prefixes.len())];
            let e164 = format!(
                "{p}{:0width$}",
                rng.random_range(0..max),
                width = digits as usize
            );
            let Ok(key) = e164[1..].parse::<u64>() else {
                continue;
            };
            if self.used.contains(&key) {
                continue;
            }
            if let Ok(n) = PhoneNumber::parse(&e164) {
                self.used.insert(n.key());
                return Ok(n);
            }
        }
        Err(SimError::scenario(
            "traffic",
            format!("could not draw a valid number from {prefixes:?} with {digits} digits"),
        ))
    }
}

/// Parse E.164 strings on every core (libphonenumber's parse is the slowest step of a
/// million-sender flood); the result keeps the input's order, so it is deterministic.
fn parse_all(candidates: &[String]) -> Vec<Option<PhoneNumber>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    if threads == 1 || candidates.len() < 10_000 {
        return candidates
            .iter()
            .map(|c| PhoneNumber::parse(c).ok())
            .collect();
    }
    let chunk = candidates.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = candidates
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|c| PhoneNumber::parse(c).ok())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

fn rng_for(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

/// An attacker's body: one of the fixed texts, or a varied one.
fn attack_body(rng: &mut ChaCha8Rng, fixed: &[u32]) -> Body {
    if fixed.is_empty() {
        Body::Varied(rng.random())
    } else {
        Body::Fixed(fixed[rng.random_range(0..fixed.len())])
    }
}

fn at(start: Timestamp, offset_secs: f64) -> Timestamp {
    start.add(Duration::from_secs_f64(offset_secs.max(0.0)))
}

/// What to generate: the window, our number, the models, and the local time's offset (the
/// daily rhythm follows local hours). [`Scenario::generate`](crate::Scenario::generate) builds it.
pub struct TrafficPlan<'a> {
    /// The first instant.
    pub start: Timestamp,
    /// The window's length, in hours.
    pub duration_hours: f64,
    /// Our number (never drawn as a sender).
    pub number: PhoneNumber,
    /// The legitimate senders.
    pub legit: &'a LegitModel,
    /// The raids.
    pub raids: &'a [RaidModel],
    /// The spoofed flood, if any.
    pub spoofed: Option<&'a SpoofedModel>,
    /// The pumping blocks.
    pub pumping: &'a [PumpingModel],
    /// The offset of local time from UTC at an instant, in seconds.
    pub utc_offset_secs_at: &'a dyn Fn(Timestamp) -> i64,
}

impl std::fmt::Debug for TrafficPlan<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrafficPlan")
            .field("start", &self.start)
            .field("duration_hours", &self.duration_hours)
            .field("legit", &self.legit)
            .field("raids", &self.raids)
            .field("spoofed", &self.spoofed)
            .field("pumping", &self.pumping)
            .finish_non_exhaustive()
    }
}

/// Generate the traffic of `plan` with `seed`.
pub fn generate(plan: &TrafficPlan<'_>, seed: u64) -> Result<Traffic> {
    let start = plan.start;
    let window = plan.duration_hours * 3600.0;
    let end = start.add(hours(plan.duration_hours));
    let mut b = Builder {
        used: HashSet::new(),
        senders: Vec::new(),
        events: Vec::new(),
        bodies: Vec::new(),
    };
    let ours = plan.number.clone();
    b.used.insert(ours.key());

    legit(&mut b, plan, start, window, &mut rng_for(seed, 1))?;
    for (i, raid) in plan.raids.iter().enumerate() {
        raid_model(&mut b, raid, start, &mut rng_for(seed, 100 + i as u64))?;
    }
    if let Some(sp) = plan.spoofed {
        spoofed(&mut b, sp, start, &mut rng_for(seed, 200))?;
    }
    for (i, p) in plan.pumping.iter().enumerate() {
        pumping(&mut b, p, start, &mut rng_for(seed, 300 + i as u64))?;
    }

    let mut events = b.events;
    // Ties broken by sender then kind (calls before texts): a total order, so sorting is
    // deterministic.
    events.sort_unstable_by_key(|e| (e.at, e.sender, e.kind == ContactKind::Text));
    Ok(Traffic {
        number: ours,
        start,
        end,
        senders: b.senders,
        events,
        bodies: b.bodies,
    })
}

fn legit(
    b: &mut Builder,
    plan: &TrafficPlan<'_>,
    start: Timestamp,
    window: f64,
    rng: &mut ChaCha8Rng,
) -> Result<()> {
    let m: &LegitModel = plan.legit;
    let fr = ["+336".to_owned(), "+337".to_owned()];
    let max_w = m.rhythm.iter().copied().fold(0.0f64, f64::max);
    let mut firsts = Vec::new();
    // Base senders: uniform over the window, thinned by the daily rhythm.
    for _ in 0..m.senders {
        let mut t = rng.random_range(0.0..window);
        for _ in 0..10_000 {
            let utc = at(start, t);
            let off = (plan.utc_offset_secs_at)(utc);
            let local = Timestamp::from_millis(utc.as_millis() + off * 1000);
            let w = m.rhythm[local.to_datetime().hour() as usize];
            if max_w <= 0.0 || rng.random::<f64>() * max_w <= w {
                break;
            }
            t = rng.random_range(0.0..window);
        }
        firsts.push(t);
    }
    // Media spikes: truncated exponential decay from the article's time to the window's end.
    for s in &m.spike {
        let at0 = s.at_hour * 3600.0;
        let span = (window - at0).max(1.0);
        let lambda = std::f64::consts::LN_2 / (s.half_life_hours.max(0.01) * 3600.0);
        let umax = 1.0 - (-lambda * span).exp();
        for _ in 0..s.senders {
            let u = rng.random_range(0.0..umax.max(f64::MIN_POSITIVE));
            firsts.push(at0 + -(1.0 - u).ln() / lambda);
        }
    }
    for t in firsts {
        let n = b.random_number(rng, &fr, 8)?;
        let id = b.add_sender(n, Actor::Legit);
        let mut text_at = t;
        if rng.random::<f64>() < m.call_first_share {
            b.push(at(start, t), ContactKind::Call, id, Body::None);
            text_at = t + rng.random_range(60.0..900.0);
        }
        // A man's first text always counts (even a minute past the window, after his call);
        // his repeats stay inside the window.
        b.push(
            at(start, text_at),
            ContactKind::Text,
            id,
            Body::Legit(rng.random()),
        );
        if m.max_texts >= 2 && rng.random::<f64>() < m.repeat_share {
            let extra = rng.random_range(1..m.max_texts);
            for _ in 0..extra {
                text_at += rng.random_range(120.0..6.0 * 3600.0);
                if text_at < window {
                    b.push(
                        at(start, text_at),
                        ContactKind::Text,
                        id,
                        Body::Legit(rng.random()),
                    );
                }
            }
        }
    }
    Ok(())
}

fn raid_model(
    b: &mut Builder,
    m: &RaidModel,
    start: Timestamp,
    rng: &mut ChaCha8Rng,
) -> Result<()> {
    let fr = ["+336".to_owned(), "+337".to_owned()];
    let w0 = m.start_hour * 3600.0;
    let span = m.duration_hours * 3600.0;
    let gap = m.burst_gap_seconds.max(0.1);
    let fixed = b.fixed_bodies(&m.bodies);
    for _ in 0..m.numbers {
        let n = b.random_number(rng, &fr, 8)?;
        let id = b.add_sender(n, Actor::Raid);
        let mut left = if m.texts_per_number == 0 {
            0
        } else {
            let lo = (m.texts_per_number / 2).max(1);
            let hi = (m.texts_per_number + m.texts_per_number / 2).max(lo);
            rng.random_range(lo..=hi)
        };
        while left > 0 {
            let burst = left.min(m.burst_size);
            left -= burst;
            let mut t = w0 + rng.random_range(0.0..span);
            for _ in 0..burst {
                let body = attack_body(rng, &fixed);
                b.push(at(start, t), ContactKind::Text, id, body);
                t += rng.random_range(1.0..=gap.max(1.0));
            }
        }
        for _ in 0..m.calls_per_number {
            let t = w0 + rng.random_range(0.0..span);
            b.push(at(start, t), ContactKind::Call, id, Body::None);
        }
    }
    Ok(())
}

fn spoofed(
    b: &mut Builder,
    m: &SpoofedModel,
    start: Timestamp,
    rng: &mut ChaCha8Rng,
) -> Result<()> {
    let w0 = m.start_hour * 3600.0;
    let span = m.duration_hours * 3600.0;
    b.senders.reserve(m.senders as usize);
    b.events.reserve(m.senders as usize);
    b.used.reserve(m.senders as usize);
    let fixed = b.fixed_bodies(&m.bodies);
    for n in b.random_numbers(rng, &m.prefixes, m.suffix_digits, m.senders as usize)? {
        let id = b.add_sender(n, Actor::Spoofed);
        let t = w0 + rng.random_range(0.0..span);
        let body = attack_body(rng, &fixed);
        b.push(at(start, t), ContactKind::Text, id, body);
    }
    Ok(())
}

fn pumping(
    b: &mut Builder,
    m: &PumpingModel,
    start: Timestamp,
    rng: &mut ChaCha8Rng,
) -> Result<()> {
    let w0 = m.start_hour * 3600.0;
    let span = m.duration_hours * 3600.0;
    let max = 10u64.pow(m.suffix_digits);
    let mut next = rng.random_range(0..max.saturating_sub(u64::from(m.senders)).max(1));
    let fixed = b.fixed_bodies(&m.bodies);
    let mut made = 0;
    while made < m.senders && next < max {
        let e164 = format!(
            "{}{:0width$}",
            m.prefix,
            next,
            width = m.suffix_digits as usize
        );
        next += 1;
        let Ok(n) = PhoneNumber::parse(&e164) else {
            continue;
        };
        if !b.used.insert(n.key()) {
            continue;
        }
        let id = b.add_sender(n, Actor::Pumping);
        made += 1;
        for _ in 0..m.texts_each {
            let t = w0 + rng.random_range(0.0..span);
            let body = attack_body(rng, &fixed);
            b.push(at(start, t), ContactKind::Text, id, body);
        }
    }
    if made == 0 && m.senders > 0 {
        return Err(SimError::scenario(
            "pumping",
            format!(
                "no valid number in the block {}{}",
                m.prefix,
                "x".repeat(m.suffix_digits as usize)
            ),
        ));
    }
    Ok(())
}
