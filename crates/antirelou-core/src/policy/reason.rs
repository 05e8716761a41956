//! [`PolicyReason`]: the drop reason of a policy defined outside this workspace's abuse crate.

use std::fmt;

use super::Reason;

/// The drop reason of a policy that is not one of the built-in ones: a validated snake_case
/// label, counted by the engine as `drop.<label>` and shown with the built-in reasons by every
/// statistics page that lists the `drop.` counters.
///
/// Make one with [`policy_reason!`](crate::policy_reason), which checks the label at compile time:
/// 1 to [`PolicyReason::MAX_LEN`] bytes of lowercase ASCII letters, digits and `_`, starting with a
/// letter, and not the label of a built-in [`Reason`] (whose counts it would otherwise join).
///
/// ```
/// use antirelou_core::policy::{Decision, PolicyReason, Reason};
/// use antirelou_core::policy_reason;
///
/// const QUIET_HOURS: PolicyReason = policy_reason!("quiet_hours");
/// let d = Decision::Deny(Reason::Policy(QUIET_HOURS));
/// assert_eq!(d.reason().unwrap().as_str(), "quiet_hours");
/// assert_eq!(d.reason().unwrap().counter(), "drop.quiet_hours");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PolicyReason {
    label: &'static str,
    counter: &'static str,
}

impl PolicyReason {
    /// The longest label accepted, in bytes.
    pub const MAX_LEN: usize = 48;

    /// The reason labelled `label`, counted under `counter`, which must be `drop.` followed by
    /// `label` ([`policy_reason!`](crate::policy_reason) writes both from one literal).
    ///
    /// # Panics
    ///
    /// If `label` is invalid (see [`PolicyReason`]) or `counter` is not `drop.<label>`; in a
    /// `const` item this is a compile error.
    pub const fn with_counter(label: &'static str, counter: &'static str) -> Self {
        if check(label).is_err() {
            panic!(
                "invalid policy reason label: 1 to 48 bytes of a-z, 0-9 and '_', starting with a \
                 letter, and not a built-in reason's label"
            );
        }
        if !is_drop_counter_of(counter, label) {
            panic!("a policy reason's counter must be \"drop.<label>\"");
        }
        PolicyReason { label, counter }
    }

    /// The label (`quiet_hours`).
    pub const fn as_str(self) -> &'static str {
        self.label
    }

    /// The counter name (`drop.quiet_hours`).
    pub const fn counter(self) -> &'static str {
        self.counter
    }
}

/// Build a [`PolicyReason`] from a string literal, checked at compile time when used in a `const`.
///
/// ```
/// const NIGHT: antirelou_core::policy::PolicyReason = antirelou_core::policy_reason!("night_only");
/// assert_eq!(NIGHT.counter(), "drop.night_only");
/// ```
#[macro_export]
macro_rules! policy_reason {
    ($label:literal) => {
        $crate::policy::PolicyReason::with_counter($label, concat!("drop.", $label))
    };
}

const fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn is_drop_counter_of(counter: &str, label: &str) -> bool {
    let (c, l) = (counter.as_bytes(), label.as_bytes());
    if c.len() != l.len() + 5 {
        return false;
    }
    let prefix = b"drop.";
    let mut i = 0;
    while i < c.len() {
        let want = if i < 5 { prefix[i] } else { l[i - 5] };
        if c[i] != want {
            return false;
        }
        i += 1;
    }
    true
}

/// Why `label` is not a valid policy reason label, if it is not.
const fn check(label: &str) -> Result<(), &'static str> {
    let b = label.as_bytes();
    if b.is_empty() || b.len() > PolicyReason::MAX_LEN {
        return Err("a policy reason's label must be 1 to 48 bytes");
    }
    if !b[0].is_ascii_lowercase() {
        return Err("a policy reason's label must start with a lowercase ascii letter");
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_') {
            return Err("a policy reason's label may hold only a-z, 0-9 and '_'");
        }
        i += 1;
    }
    let mut r = 0;
    while r < Reason::ALL.len() {
        if bytes_eq(b, Reason::ALL[r].as_str().as_bytes()) {
            return Err("a policy reason's label must not be a built-in reason's");
        }
        r += 1;
    }
    Ok(())
}

impl fmt::Debug for PolicyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PolicyReason").field(&self.label).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_labels_count_under_drop_label() {
        const R: PolicyReason = crate::policy_reason!("quiet_hours_2");
        assert_eq!(R.as_str(), "quiet_hours_2");
        assert_eq!(R.counter(), "drop.quiet_hours_2");
        assert_eq!(Reason::Policy(R).counter(), "drop.quiet_hours_2");
        assert_eq!(Reason::Policy(R).to_string(), "quiet_hours_2");
    }

    #[test]
    fn bad_labels_are_refused() {
        for bad in [
            "",
            "Quiet",
            "quiet-hours",
            "quiet hours",
            "2quiet",
            "drop.x",
            "opted_out",
        ] {
            assert!(check(bad).is_err(), "{bad:?} accepted");
        }
        assert!(check(&"a".repeat(49)).is_err());
        assert!(check(&"a".repeat(48)).is_ok());
    }

    #[test]
    #[should_panic(expected = "drop.<label>")]
    fn a_counter_that_is_not_drop_label_is_refused() {
        let _ = PolicyReason::with_counter("quiet", "drop.other");
    }

    #[test]
    #[should_panic(expected = "built-in")]
    fn a_built_in_label_is_refused() {
        let _ = PolicyReason::with_counter("blocklisted", "drop.blocklisted");
    }
}
