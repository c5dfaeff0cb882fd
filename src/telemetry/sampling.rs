//! Which spans reach the trace layer. The sampling decision is taken when a trace's first
//! span is created, not after: a span the trace layer never sees costs it nothing, while
//! one it sees but the SDK then drops still costs building (measured: a fifth more CPU
//! per catalog request at 10% sampling when every span went to the layer).
//!
//! - A span inside a traced span is traced; inside an untraced one it is not.
//! - A span with no span around it starts a trace with probability `ratio`, unless the
//!   code creating it knows the caller's decision (a `traceparent`) and says so first
//!   through [`decide_next_root`].
//! - Events from info up inside a traced span go to the layer (they become span events).

use std::cell::Cell;

use tracing::subscriber::Interest;
use tracing::{Level, Metadata};
use tracing_subscriber::layer::{Context, Filter};

thread_local! {
    /// The caller's decision for the next root span created on this thread.
    static NEXT_ROOT: Cell<Option<bool>> = const { Cell::new(None) };
    /// What the last root span created on this thread was decided.
    static LAST_ROOT: Cell<bool> = const { Cell::new(false) };
    /// xorshift64* state; seeded per thread from its address and the clock.
    static RNG: Cell<u64> = Cell::new(seed());
}

/// Sets whether the next span created on this thread with no span around it is traced
/// (the sampled flag of an incoming `traceparent`). Taken by that span.
pub fn decide_next_root(sampled: bool) {
    NEXT_ROOT.with(|next| next.set(Some(sampled)));
}

/// Whether the last span this thread created with no span around it started a trace
/// (false when tracing is off): read right after creating a root span, it says whether
/// that span is traced without asking the trace layer.
pub fn last_root_traced() -> bool {
    LAST_ROOT.with(|last| last.replace(false))
}

/// Forgets a decision no span took (the span was disabled for other reasons).
pub fn clear_next_root() {
    NEXT_ROOT.with(|next| next.set(None));
}

/// The sampled flag of a W3C `traceparent` (`00-<trace>-<span>-<flags>`), if it is one.
pub fn traceparent_sampled(value: &str) -> Option<bool> {
    let mut parts = value.split('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !(hex(version, 2) && version != "ff" && hex(trace, 32) && hex(span, 16) && hex(flags, 2)) {
        return None;
    }
    let flags = u8::from_str_radix(flags, 16).ok()?;
    Some(flags & 1 == 1)
}

pub struct HeadSampler {
    /// `ratio` scaled to the range of a `u64`.
    threshold: u64,
}

impl HeadSampler {
    pub fn new(ratio: f64) -> Self {
        let threshold = if ratio >= 1.0 {
            u64::MAX
        } else {
            (ratio.max(0.0) * u64::MAX as f64) as u64
        };
        HeadSampler { threshold }
    }

    fn wanted(metadata: &Metadata<'_>) -> bool {
        if metadata.is_span() {
            metadata.target().starts_with("fitpulse") && *metadata.level() <= Level::DEBUG
        } else {
            *metadata.level() <= Level::INFO
        }
    }

    fn start_trace(&self) -> bool {
        let traced = match NEXT_ROOT.with(Cell::take) {
            Some(decided) => decided,
            None => self.threshold == u64::MAX || next_random() < self.threshold,
        };
        LAST_ROOT.with(|last| last.set(traced));
        traced
    }
}

impl<S> Filter<S> for HeadSampler
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn enabled(&self, metadata: &Metadata<'_>, context: &Context<'_, S>) -> bool {
        if !Self::wanted(metadata) {
            return false;
        }
        // This filter's view of the current span: set only when that span is traced.
        if context.lookup_current().is_some() {
            return true;
        }
        // An event outside a traced span has nothing to attach to.
        if metadata.is_event() {
            return false;
        }
        // Inside a span that is not traced: stay out of the trace.
        if tracing::Span::current().id().is_some() {
            return false;
        }
        self.start_trace()
    }

    fn callsite_enabled(&self, metadata: &'static Metadata<'static>) -> Interest {
        if Self::wanted(metadata) {
            // Asked each time: whether a span or event is traced depends on where it is.
            Interest::sometimes()
        } else {
            Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::DEBUG)
    }
}

fn seed() -> u64 {
    let local = 0u8;
    let address = &local as *const u8 as u64;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    (address ^ nanos.rotate_left(17)) | 1
}

fn next_random() -> u64 {
    RNG.with(|state| {
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sampled_flag_is_read_from_a_well_formed_traceparent_only() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(
            traceparent_sampled(&format!("00-{id}-00f067aa0ba902b7-01")),
            Some(true)
        );
        assert_eq!(
            traceparent_sampled(&format!("00-{id}-00f067aa0ba902b7-00")),
            Some(false)
        );
        assert_eq!(traceparent_sampled("00-short-00f067aa0ba902b7-01"), None);
        assert_eq!(
            traceparent_sampled(&format!("ff-{id}-00f067aa0ba902b7-01")),
            None
        );
    }

    #[test]
    fn a_ratio_keeps_about_its_share_of_new_traces() {
        let sampler = HeadSampler::new(0.1);
        let kept = (0..100_000).filter(|_| sampler.start_trace()).count();
        assert!((8_000..12_000).contains(&kept), "{kept} of 100000");
        let all = HeadSampler::new(1.0);
        assert!((0..1000).all(|_| all.start_trace()));
        let none = HeadSampler::new(0.0);
        assert!((0..1000).all(|_| !none.start_trace()));
    }

    #[test]
    fn a_callers_decision_wins_once() {
        let none = HeadSampler::new(0.0);
        decide_next_root(true);
        assert!(none.start_trace());
        assert!(!none.start_trace());
        let all = HeadSampler::new(1.0);
        decide_next_root(false);
        assert!(!all.start_trace());
        assert!(all.start_trace());
    }
}
