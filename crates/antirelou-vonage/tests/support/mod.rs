//! Shared test helpers: a recording handler and the loopback fake of Vonage's SMS API.
#![allow(dead_code, clippy::unwrap_used, unreachable_pub)]

pub mod fake_vonage;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use antirelou_core::event::{DeliveryReport, InboundCall, InboundSms};
use antirelou_core::voice::{VoiceHint, VoiceScript};
use antirelou_core::{InboundHandler, SmsOutcome};
use async_trait::async_trait;

/// Records every event; deduplicates SMS by message id like the engine does.
#[derive(Debug, Default)]
pub struct Recorder {
    pub sms: Mutex<Vec<InboundSms>>,
    pub seen: Mutex<HashSet<String>>,
    pub scheduled: Mutex<u32>,
    pub calls: Mutex<Vec<InboundCall>>,
    pub reports: Mutex<Vec<DeliveryReport>>,
    pub fail: Mutex<Option<bool>>,
    pub script: Mutex<Option<VoiceScript>>,
}

impl Recorder {
    pub fn new() -> Arc<Self> {
        Arc::new(Recorder::default())
    }

    /// Make the next calls fail: `Some(true)` transiently, `Some(false)` permanently.
    pub fn fail_with(&self, transient: Option<bool>) {
        *self.fail.lock().unwrap() = transient;
    }

    fn failure(&self) -> antirelou_core::Result<()> {
        match *self.fail.lock().unwrap() {
            Some(true) => Err(antirelou_core::Error::storage_transient("db busy")),
            Some(false) => Err(antirelou_core::Error::storage_permanent("schema")),
            None => Ok(()),
        }
    }
}

pub fn lesson_script() -> VoiceScript {
    VoiceScript::builder()
        .ring(10)
        .say(
            "Oh, bonjour ! Le consentement, ça compte.",
            "fr-FR",
            VoiceHint::Female,
        )
        .pause(1)
        .hangup()
        .build()
}

#[async_trait]
impl InboundHandler for Recorder {
    async fn handle_sms(&self, sms: InboundSms) -> antirelou_core::Result<SmsOutcome> {
        self.failure()?;
        let fresh = self.seen.lock().unwrap().insert(sms.message_id.clone());
        self.sms.lock().unwrap().push(sms);
        if fresh {
            *self.scheduled.lock().unwrap() += 1;
            Ok(SmsOutcome::Scheduled)
        } else {
            Ok(SmsOutcome::Duplicate)
        }
    }

    async fn handle_call(&self, call: InboundCall) -> antirelou_core::Result<VoiceScript> {
        self.failure()?;
        self.calls.lock().unwrap().push(call);
        Ok(self
            .script
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(lesson_script))
    }

    async fn handle_delivery(&self, report: DeliveryReport) -> antirelou_core::Result<()> {
        self.failure()?;
        self.reports.lock().unwrap().push(report);
        Ok(())
    }
}
