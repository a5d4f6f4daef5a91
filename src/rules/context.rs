//! The state of the evaluation running on this thread, reached by the host functions
//! rules call: what was collected so far, the lookups made, the wall-clock deadline.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rhai::{Dynamic, EvalAltResult};

use super::action::{Action, Reply};
use super::lookup::{LookupCache, LookupError, LookupKey, LookupRecord, Lookups};
use super::memory::Overlay;
use crate::wechat::event::Event;

thread_local! {
    static STATE: RefCell<Option<EvalState>> = const { RefCell::new(None) };
    static RULE: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// What host functions reach outside the script: lookups and the stores they read.
#[derive(Clone)]
pub(crate) struct Services {
    pub(crate) lookups: Arc<dyn Lookups>,
    pub(crate) cache: Arc<LookupCache>,
    pub(crate) memory: sled::Tree,
    pub(crate) history: sled::Tree,
    /// The customer-service window tracker; without one `window()` reports no window.
    pub(crate) windows: Option<Arc<dyn super::window::WindowView>>,
}

/// Everything one evaluation collects; a failed rule's pending part is discarded.
pub(crate) struct EvalState {
    pub(crate) services: Services,
    pub(crate) event: Event,
    pub(crate) now: i64,
    pub(crate) memo: HashMap<LookupKey, Result<Dynamic, LookupError>>,
    pub(crate) lookups: Vec<LookupRecord>,
    /// Messages thrown for retryable lookup failures, to tell them from other errors.
    pub(crate) retryable_thrown: Vec<String>,
    pub(crate) overlay: Overlay,
    pub(crate) actions: Vec<Action>,
    pub(crate) replies: Vec<Reply>,
    pending_actions: Vec<Action>,
    pending_replies: Vec<Reply>,
}

impl EvalState {
    pub(crate) fn new(services: Services, event: Event, now: i64) -> Self {
        EvalState {
            services,
            event,
            now,
            memo: HashMap::new(),
            lookups: Vec::new(),
            retryable_thrown: Vec::new(),
            overlay: Overlay::default(),
            actions: Vec::new(),
            replies: Vec::new(),
            pending_actions: Vec::new(),
            pending_replies: Vec::new(),
        }
    }

    pub(crate) fn push_action(&mut self, action: Action) {
        self.pending_actions.push(action);
    }

    pub(crate) fn push_reply(&mut self, reply: Reply) {
        self.pending_replies.push(reply);
    }

    /// The running rule finished: its actions and writes stand.
    pub(crate) fn commit_rule(&mut self) {
        self.actions.append(&mut self.pending_actions);
        self.replies.append(&mut self.pending_replies);
        self.overlay.commit();
    }

    /// The running rule failed: it loses its own actions and writes, nothing else.
    pub(crate) fn discard_rule(&mut self) {
        self.pending_actions.clear();
        self.pending_replies.clear();
        self.overlay.discard();
    }
}

/// Clears this thread's evaluation state when the evaluation ends, even by a panic.
pub(crate) struct Installed(());

impl Drop for Installed {
    fn drop(&mut self) {
        STATE.with(|state| state.borrow_mut().take());
        RULE.with(|rule| rule.borrow_mut().take());
        DEADLINE.with(|deadline| deadline.set(None));
    }
}

/// Makes `state` the evaluation of this thread until the guard drops.
pub(crate) fn install(state: EvalState) -> Installed {
    STATE.with(|slot| *slot.borrow_mut() = Some(state));
    Installed(())
}

/// Takes the collected state out, at the end of an evaluation.
pub(crate) fn take(_guard: &Installed) -> Option<EvalState> {
    STATE.with(|slot| slot.borrow_mut().take())
}

/// Runs `f` on the evaluation state; outside a handler (at load time) it is an error
/// naming `function`.
pub(crate) fn with_state<T>(
    function: &str,
    f: impl FnOnce(&mut EvalState) -> Result<T, String>,
) -> Result<T, Box<EvalAltResult>> {
    let outcome = STATE.with(|slot| match slot.borrow_mut().as_mut() {
        Some(state) => f(state),
        None => Err("can only be called inside a handler, not at the top level".to_string()),
    });
    outcome.map_err(|message| format!("{function}: {message}").into())
}

/// Names the rule now running on this thread, for its logs and actions.
pub(crate) fn set_rule(name: Option<Arc<str>>) {
    RULE.with(|rule| *rule.borrow_mut() = name);
}

/// The rule now running on this thread, or "" outside any rule.
pub(crate) fn current_rule() -> Arc<str> {
    RULE.with(|rule| rule.borrow().clone())
        .unwrap_or_else(|| Arc::from(""))
}

/// Sets or clears the wall-clock deadline of the handler now running.
pub(crate) fn set_deadline(deadline: Option<Instant>) {
    DEADLINE.with(|slot| slot.set(deadline));
}

/// How long the running handler has left before its deadline; `None` outside a handler.
pub fn time_left() -> Option<Duration> {
    DEADLINE
        .with(|slot| slot.get())
        .map(|deadline| deadline.saturating_duration_since(Instant::now()))
}

/// Whether the running handler is past its deadline.
pub(crate) fn deadline_passed() -> bool {
    DEADLINE
        .with(|slot| slot.get())
        .is_some_and(|deadline| Instant::now() >= deadline)
}

/// Runs `f` on the evaluation state if one is installed on this thread.
pub(crate) fn with_current<T>(f: impl FnOnce(&mut EvalState) -> T) -> Option<T> {
    STATE.with(|slot| slot.borrow_mut().as_mut().map(f))
}
