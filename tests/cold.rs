//! Cold calls: each made after main has gone to sleep, so that the caller
//! wakes main and hands it its CPU, yielding until the answer comes or its
//! longest spin runs out, then parks (`wait::park::hand_over`); main yields
//! back when it answers. Whatever way the request and the answer take (the call line,
//! the rings, an answer streamed past the ring's size, deferred to another
//! thread, a failure, an answer too long to send), with main on its own
//! thread or hosted, and with
//! several threads calling at once, every caller gets its own answer, and
//! no wake-up is lost: a lost one would cost a 50 ms park slice, and the
//! median call must stay far below that (the calls take tens of
//! microseconds here; the bound is a liveness check, not a benchmark).
//!
//! The renderers attach in-process: the calls are as cold, and a test needs
//! no child processes.

mod common;

use common::*;
use ringipc::{AttachPoint, Config, Error, IpcMain, IpcRenderer};
use std::time::{Duration, Instant};

/// Far beyond what these calls take: only a lost wake-up runs into it.
const ANSWERED_WITHIN: Duration = Duration::from_secs(10);
/// Past every spin budget of both sides: each call finds main asleep.
const GAP: Duration = Duration::from_millis(2);
/// Cold calls per way: each one hands over, and main hands back, many
/// times over.
const CALLS: usize = 24;
/// Longer than the reply ring below: streamed while the caller reads.
const STREAMED: usize = 300 * 1024;
/// Half a park slice: a median call this slow means wake-ups were lost.
const MEDIAN_WITHIN: Duration = Duration::from_millis(25);
/// Longer than the call line's room: the request takes the ring.
const LONG_ARG: usize = 100;
/// The longest message main may send; `too_long` answers with more.
const MAX_MESSAGE: usize = 512 * 1024;

/// A main that answers on every way an answer can take.
fn main(hosted: bool) -> IpcMain {
    let config = Config::default()
        .reply_ring_capacity(64 * 1024)
        .max_message_len(MAX_MESSAGE)
        .dispatcher_thread(!hosted);
    let ipc = IpcMain::with_config(config).unwrap();
    ipc.on("line", |event, arg| {
        event.set_return_value(arg);
    })
    .unwrap();
    ipc.on("ring", |event, arg| {
        event.set_return_value(arg.repeat(32));
    })
    .unwrap();
    ipc.on("streamed", |event, arg| {
        event.set_return_value(arg.repeat(STREAMED / arg.len().max(1)));
    })
    .unwrap();
    ipc.on("deferred", |event, arg| {
        let responder = event.take_responder().unwrap();
        let value = arg.to_vec();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_micros(300));
            responder.respond(value).unwrap();
        });
    })
    .unwrap();
    ipc.on("fails", |event, _| {
        event.take_responder().unwrap().fail("refused");
    })
    .unwrap();
    ipc.on("too_long", |event, _| {
        event.set_return_value(vec![0; MAX_MESSAGE + 1]);
    })
    .unwrap();
    ipc
}

/// A renderer of `ipc`, attached through a name of this test's own.
fn attach(ipc: &IpcMain, test: &str) -> IpcRenderer {
    let name = format!("ringipc-cold-{test}-{}", std::process::id());
    ipc.listen(AttachPoint::abstract_name(&name)).unwrap();
    IpcRenderer::connect(AttachPoint::abstract_name(&name)).unwrap()
}

/// Drives a hosted main as a host loop would, until it shuts down.
fn host(ipc: &IpcMain) -> std::thread::JoinHandle<()> {
    let ipc = ipc.clone();
    std::thread::spawn(move || {
        while !matches!(
            ipc.dispatch(Duration::from_millis(50)),
            Err(Error::Disconnected)
        ) {}
    })
}

/// `CALLS` cold calls on `channel` with arguments of `len` bytes, each
/// checked against what main must answer; returns the median call's time.
fn cold_calls(r: &IpcRenderer, channel: &str, tag: u8, len: usize) -> Duration {
    let mut took = Vec::with_capacity(CALLS);
    for i in 0..CALLS {
        std::thread::sleep(GAP);
        let arg = [tag, i as u8, 0x5A, 0xA5].repeat(len / 4);
        let start = Instant::now();
        let got = r.send_sync_timeout(channel, &arg, ANSWERED_WITHIN);
        took.push(start.elapsed());
        match channel {
            "fails" => match got {
                Err(Error::HandlerFailed { message, .. }) => assert_eq!(message, "refused"),
                other => panic!("call {i} on {channel}: {other:?}"),
            },
            "too_long" => match got {
                Err(Error::MessageTooLarge { len, max }) => {
                    assert_eq!((len, max), (MAX_MESSAGE + 1, MAX_MESSAGE))
                }
                other => panic!("call {i} on {channel}: {other:?}"),
            },
            "ring" => assert_eq!(got.unwrap(), arg.repeat(32), "call {i}"),
            "streamed" => {
                let got = got.unwrap();
                assert_eq!(got.len(), STREAMED, "call {i}");
                assert!(got.chunks(len).all(|c| c == arg), "call {i}");
            }
            _ => assert_eq!(got.unwrap(), arg, "call {i} on {channel}"),
        }
    }
    took.sort();
    took[CALLS / 2]
}

#[test]
fn cold_calls_get_their_answers_whatever_way_they_take() {
    let _serial = serial();
    for hosted in [false, true] {
        let ipc = main(hosted);
        let driving = hosted.then(|| host(&ipc));
        let r = attach(&ipc, if hosted { "ways-hosted" } else { "ways" });
        let ways = [
            ("line", 4),
            ("ring", 4),
            ("line", LONG_ARG),
            ("ring", LONG_ARG),
            ("streamed", 4),
            ("streamed", LONG_ARG),
            ("deferred", 4),
            ("deferred", LONG_ARG),
            ("fails", 4),
            ("fails", LONG_ARG),
            ("too_long", 4),
            ("line", 4),
        ];
        for (tag, (channel, len)) in ways.into_iter().enumerate() {
            let median = cold_calls(&r, channel, tag as u8, len);
            assert!(
                median < MEDIAN_WITHIN,
                "{channel} with {len}-byte arguments, hosted {hosted}: median {median:?}"
            );
        }
        drop(r);
        ipc.shutdown();
        if let Some(t) = driving {
            t.join().unwrap();
        }
    }
}

#[test]
fn threads_calling_cold_at_once_each_get_their_own_answer() {
    let _serial = serial();
    const THREADS: usize = 4;
    let ipc = main(false);
    let r = attach(&ipc, "threads");
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let r = &r;
            s.spawn(move || {
                // Calls of every size, from threads that all sleep as long
                // between them, so that they often wake main together.
                for i in 0..CALLS {
                    std::thread::sleep(GAP);
                    let len = if (t + i) % 3 == 0 { LONG_ARG } else { 4 };
                    let arg = [t as u8, i as u8, 1, 2].repeat(len / 4);
                    let channel = if (t + i) % 2 == 0 { "line" } else { "ring" };
                    let want = match channel {
                        "line" => arg.clone(),
                        _ => arg.repeat(32),
                    };
                    let got = r.send_sync_timeout(channel, &arg, ANSWERED_WITHIN);
                    assert_eq!(got.unwrap(), want, "thread {t}, call {i}");
                }
            });
        }
    });
    drop(r);
    ipc.shutdown();
}
