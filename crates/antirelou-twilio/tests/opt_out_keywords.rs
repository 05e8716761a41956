//! Twilio blocks a sender on its own when he writes one of its default opt-out keywords on a
//! long code (and unblocks him on an opt-in keyword). The engine must record the same opt-outs,
//! so every such keyword must be one the built-in catalogue honours on every number.

use antirelou_core::catalogue::Catalogue;

/// Twilio's default Advanced Opt-Out keywords on long codes.
const TWILIO_STOP: &[&str] = &["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"];
/// Twilio's default opt-in keywords on long codes.
const TWILIO_START: &[&str] = &["START", "YES", "UNSTOP"];

#[test]
fn every_twilio_opt_out_and_opt_in_keyword_is_honoured_by_the_built_in_catalogue() {
    let c = Catalogue::builtin();
    let (stop, start) = (c.stop_keywords(), c.start_keywords());
    for k in TWILIO_STOP {
        assert!(
            stop.contains(*k),
            "{k} is not an opt-out keyword of the engine"
        );
    }
    for k in TWILIO_START {
        assert!(
            start.contains(*k),
            "{k} is not an opt-in keyword of the engine"
        );
    }
}
