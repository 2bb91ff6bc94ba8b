//! Registering an `invoke` handler, main's or one renderer's own: typed on
//! the way in, stored as the dispatcher runs it.

use super::{IpcMainEvent, MainHandler};
use crate::error::{Error, Result, check_channel};
use crate::listeners::Listeners;
use std::sync::Arc;

/// Adds a typed handler to a one-per-channel `table` (main's or a
/// renderer's own), stored as the dispatcher runs it: its value written into
/// the event's reply buffer, its error turned into text.
pub(crate) fn register_handler<F, R, E>(
    table: &Listeners<MainHandler>,
    channel: &str,
    handler: F,
    once: bool,
) -> Result<()>
where
    F: Fn(&mut IpcMainEvent<'_>, &[u8]) -> std::result::Result<R, E> + Send + Sync + 'static,
    R: AsRef<[u8]>,
    E: std::fmt::Display,
{
    check_channel(channel)?;
    let erased = move |event: &mut IpcMainEvent<'_>, arg: &[u8]| match handler(event, arg) {
        Ok(value) => {
            event.reply.bytes.extend_from_slice(value.as_ref());
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    };
    table
        .add_if_absent(channel, Arc::new(erased), once)
        .map(|_| ())
        .ok_or_else(|| Error::HandlerExists {
            channel: channel.to_owned(),
        })
}
