//! Panics as job failures: [`catch`] runs a closure and turns a panic inside
//! it into its message, and while it runs the panic hook stays quiet (no
//! "thread panicked" line, no backtrace) because the message reaches the user
//! as the job's error instead. Panics anywhere else print as usual.
//!
//! burn's GPU backends panic on device errors (an adapter that cannot be
//! acquired, a shader a driver rejects, memory exhausted); one such job must
//! fail on its own while the other jobs of the run go on.

use std::any::Any;
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

thread_local! {
    /// How many [`catch`] calls this thread is inside.
    static CATCHING: Cell<usize> = const { Cell::new(0) };
}

static HOOK: Once = Once::new();

/// Runs `f`; a panic inside it comes back as `Err(message)`. The closure's
/// state is taken as unwind-safe: callers drop whatever `f` was building.
pub fn catch<T, F: FnOnce() -> T>(f: F) -> Result<T, String> {
    install_quiet_hook();
    CATCHING.with(|c| c.set(c.get() + 1));
    let r = catch_unwind(AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(c.get().saturating_sub(1)));
    r.map_err(|p| message(p.as_ref()))
}

/// The text of a panic's payload (`panic!("...")` gives a `&str` or a `String`).
pub fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// Wraps the panic hook once per process: silent inside [`catch`] (logged at
/// debug level, with where it happened), the previous hook elsewhere.
fn install_quiet_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CATCHING.with(Cell::get) > 0 {
                tracing::debug!("caught panic: {info}");
            } else {
                previous(info);
            }
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message_and_a_value_passes_through() {
        assert_eq!(catch(|| 7), Ok(7));
        assert_eq!(
            catch::<(), _>(|| panic!("no adapter {}", 3)),
            Err("no adapter 3".to_string())
        );
        assert_eq!(
            catch::<(), _>(|| std::panic::panic_any(5u8)),
            Err("a panic without a message".to_string())
        );
    }

    #[test]
    fn nested_catches_each_see_their_own_panic() {
        let outer = catch::<(), _>(|| {
            let inner = catch::<(), _>(|| panic!("inner"));
            assert_eq!(inner, Err("inner".to_string()));
            panic!("outer")
        });
        assert_eq!(outer, Err("outer".to_string()));
        CATCHING.with(|c| assert_eq!(c.get(), 0));
    }
}
