//! Touches gathered into shared calls. A touch is the call a web app makes
//! most, and most of what one costs Redis is the call itself: reading it,
//! starting the function, answering, and appending its event to the stream
//! as an entry of its own that every node then reads. So the touches that
//! arrive at a node while its previous ones are running go together in one
//! call of the touch script (up to `MOST`), whose events make one stream
//! entry. Each touch is still whole on its own, and gets its own answer.
//! When nothing else waits, a touch goes alone and at once.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::oneshot;

use super::{OP_TIMEOUT, RUN_WINDOW, Shared, broken, no_answer, wire};
use crate::store::StoreError;

/// Touches one call carries at most.
const MOST: usize = 64;
/// Calls of gathered touches a node has running at once.
const IN_FLIGHT: usize = 2;

type Reply = Result<wire::Answer, StoreError>;

/// One touch's arguments (handle, presented verifier hash or empty, actor
/// or empty) and where its answer goes.
struct Waiting {
    args: [Vec<u8>; 3],
    /// When this touch must have started in Redis, or not run (see `RUN_WINDOW`).
    run_by: Instant,
    reply: oneshot::Sender<Reply>,
}

#[derive(Default)]
pub(super) struct Touches {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    waiting: Vec<Waiting>,
    running: usize,
}

impl Touches {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Runs one touch, with whatever other touches this node has waiting.
/// Answers within `OP_TIMEOUT`, however long the queue, like every other call.
pub(super) async fn touch(shared: &Arc<Shared>, args: [Vec<u8>; 3]) -> Reply {
    let (reply, answer) = oneshot::channel();
    let start = {
        let mut state = shared.touches.state();
        state.waiting.push(Waiting {
            args,
            run_by: Instant::now() + RUN_WINDOW,
            reply,
        });
        let start = state.running < IN_FLIGHT;
        if start {
            state.running += 1;
        }
        start
    };
    // A task of its own, so a caller that gives up never strands the others.
    if start {
        tokio::spawn(carry(shared.clone()));
    }
    match tokio::time::timeout(OP_TIMEOUT, answer).await {
        Ok(Ok(reply)) => reply,
        Ok(Err(_)) => Err(StoreError::Unavailable("the touch was dropped".into())),
        Err(_) => Err(no_answer()),
    }
}

/// Runs the waiting touches, `MOST` per call, until none is left.
async fn carry(shared: Arc<Shared>) {
    loop {
        let batch: Vec<Waiting> = {
            let mut state = shared.touches.state();
            // A touch whose caller has given up (its answer is past due) is
            // not sent, and one that can no longer start in time is answered
            // here, so it does not hold back the others (a call runs all of
            // its touches or none).
            let now = Instant::now();
            let gone = |waiting: &mut Waiting| waiting.reply.is_closed() || waiting.run_by <= now;
            for late in state.waiting.extract_if(.., gone) {
                let _ = late.reply.send(Err(no_answer()));
            }
            if state.waiting.is_empty() {
                state.running -= 1;
                return;
            }
            let take = state.waiting.len().min(MOST);
            state.waiting.drain(..take).collect()
        };
        let args: Vec<&[u8]> = batch
            .iter()
            .flat_map(|waiting| waiting.args.iter().map(Vec::as_slice))
            .collect();
        // The call runs all of them or none: by the earliest deadline.
        let run_by = batch.iter().map(|waiting| waiting.run_by).min();
        let answers: Result<Vec<redis::Value>, StoreError> =
            shared.run_until(&shared.scripts.touch, &args, run_by).await;
        let answers = answers.and_then(|answers| {
            if answers.len() == batch.len() {
                Ok(answers)
            } else {
                Err(broken(format!(
                    "the touch script answered {} of {} touches",
                    answers.len(),
                    batch.len()
                )))
            }
        });
        match answers {
            Ok(answers) => {
                for (waiting, answer) in batch.into_iter().zip(answers) {
                    let _ = waiting.reply.send(wire::answer(answer).map_err(broken));
                }
            }
            Err(error) => {
                let why = match error {
                    StoreError::Unavailable(why) => why,
                    other => other.to_string(),
                };
                for waiting in batch {
                    let _ = waiting
                        .reply
                        .send(Err(StoreError::Unavailable(why.clone())));
                }
            }
        }
    }
}
