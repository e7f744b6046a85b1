//! What flows into and out of `App::update`.

use crossterm::event::{KeyEvent, MouseEvent};

use super::lesson::{LessonCommand, LessonNote};

use crate::source::{
    ClockReading, CommandOutcome, SourceCommand, SourceError, SourceSnapshot, SourceUpdate,
};

/// Everything that can change the dashboard's state.
#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize(u16, u16),
    /// A frame tick: the source's clock and the real milliseconds since start.
    Tick {
        clock: ClockReading,
        real_ms: u64,
    },
    /// The first snapshot after connecting.
    Snapshot(SourceSnapshot),
    Update(SourceUpdate),
    Outcome(Result<CommandOutcome, SourceError>),
    /// What the lesson player did.
    Lesson(LessonNote),
}

/// What `App::update` asks the event loop to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Source(SourceCommand),
    /// For the lesson runner (lesson mode only).
    Lesson(LessonCommand),
    Quit,
}
