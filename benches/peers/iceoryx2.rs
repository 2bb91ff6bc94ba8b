//! The iceoryx2 peers: request-response round trips ([`IceoryxRequestResponse`], busy-poll
//! and blocking) and the one-way publish-subscribe message rate.

use std::hint::{black_box, spin_loop};
use std::thread;
use std::time::{Duration, Instant};

use iceoryx2::port::client::Client;
use iceoryx2::port::listener::Listener;
use iceoryx2::port::notifier::Notifier;
use iceoryx2::port::update_connections::UpdateConnections;
use iceoryx2::prelude::*;

use super::iceoryx2_plumbing::{
    Control, IoxChild, PHASE_CONNECTED, PHASE_PORTS_CREATED, ServiceNames, iox_node, wait_for_event,
};
use super::{BoxError, Msg16, request};
use crate::RoundTrip;

/// Blocking waits time out this often so that a stop request or a dead peer is noticed even
/// if no notification arrives. A timed and an untimed wait cost the same in iceoryx2 0.10
/// (both set `SO_RCVTIMEO` before every `recvfrom`).
const IDLE_WAKEUP: Duration = Duration::from_millis(20);
/// Busy-polling loops check the child's liveness only every this many spins.
const LIVENESS_CHECK_SPINS: u32 = 1 << 20;

// ---------------------------------------------------------------------------------------------
// iceoryx2 request-response peer
// ---------------------------------------------------------------------------------------------

/// The blocking variant's wake-up channels, seen from the parent.
struct ParentEvents {
    to_child: Notifier<ipc::Service>,
    from_child: Listener<ipc::Service>,
}

/// Round trips over iceoryx2's request-response pattern; the forked child is the server.
/// Busy-poll mode spins on both sides; blocking mode pairs each message with an event
/// notification so that both sides sleep in the kernel while waiting.
pub struct IceoryxRequestResponse {
    // Ports before node; the child last, so it is stopped after the parent's ports are gone.
    client: Client<ipc::Service, Msg16, (), Msg16, ()>,
    events: Option<ParentEvents>,
    _node: Node<ipc::Service>,
    child: IoxChild,
    seq: u64,
}

impl IceoryxRequestResponse {
    pub fn start(blocking: bool) -> Result<Self, BoxError> {
        let names = ServiceNames::new();
        // The child creates the services and its ports before it reports, so the parent can
        // simply `open`, and its first request already finds a server. A request sent before
        // the server has attached to the client's request queue just waits in that queue.
        let child = IoxChild::spawn(|control| serve_echo_requests(control, &names, blocking))?;

        let node = iox_node()?;
        let service = node
            .service_builder(&names.get("rr")?)
            .request_response::<Msg16, Msg16>()
            .open()?;
        let client = service.client_builder().create()?;
        let events = if blocking {
            let to_child = node
                .service_builder(&names.get("to-child")?)
                .event()
                .open()?;
            let from_child = node
                .service_builder(&names.get("from-child")?)
                .event()
                .open()?;
            Some(ParentEvents {
                to_child: to_child.notifier_builder().create()?,
                from_child: from_child.listener_builder().create()?,
            })
        } else {
            None
        };
        Ok(Self {
            client,
            events,
            _node: node,
            child,
            seq: 0,
        })
    }

    fn try_round_trip(&mut self) -> Result<(), BoxError> {
        self.seq += 1;
        let req = request(self.seq);
        let pending = self.client.send_copy(req)?;
        if pending.number_of_server_connections() == 0 {
            return Err("request was sent to no server".into());
        }
        if let Some(events) = &self.events {
            // 0 would leave the child asleep until its idle timeout: a silent 20 ms round trip.
            if events.to_child.notify()? == 0 {
                return Err("notification reached no listener".into());
            }
        }
        let mut spins: u32 = 0;
        loop {
            if let Some(response) = pending.receive()? {
                if *response.payload() != req {
                    return Err("wrong echo".into());
                }
                return Ok(());
            }
            match &self.events {
                Some(events) => {
                    // A notification may be stale (its response was consumed without waiting
                    // in the previous call); the loop then just waits once more.
                    if !wait_for_event(&events.from_child, IDLE_WAKEUP)? {
                        self.child.process.ensure_alive()?;
                    }
                }
                None => {
                    spin_loop();
                    spins = spins.wrapping_add(1);
                    if spins % LIVENESS_CHECK_SPINS == 0 {
                        self.child.process.ensure_alive()?;
                    }
                }
            }
        }
    }
}

/// Child side of [`IceoryxRequestResponse`]: echoes every request until told to stop.
fn serve_echo_requests(
    control: &Control,
    names: &ServiceNames,
    blocking: bool,
) -> Result<(), BoxError> {
    let node = iox_node()?;
    let service = node
        .service_builder(&names.get("rr")?)
        .request_response::<Msg16, Msg16>()
        .create()?;
    let server = service.server_builder().create()?;
    let events = if blocking {
        let to_child = node
            .service_builder(&names.get("to-child")?)
            .event()
            .create()?;
        let from_child = node
            .service_builder(&names.get("from-child")?)
            .event()
            .create()?;
        Some((
            to_child.listener_builder().create()?,
            from_child.notifier_builder().create()?,
        ))
    } else {
        None
    };
    control.report_phase(PHASE_PORTS_CREATED);

    while !control.stop_requested() {
        while let Some(active_request) = server.receive()? {
            active_request.send_copy(*active_request.payload())?;
            if let Some((_, notifier)) = &events
                && notifier.notify()? == 0
            {
                return Err("notification reached no listener".into());
            }
        }
        match &events {
            // Requests that arrive between draining and waiting are not lost: their
            // notification is counted and makes the wait return immediately.
            Some((listener, _)) => {
                wait_for_event(listener, IDLE_WAKEUP)?;
            }
            None => spin_loop(),
        }
    }
    Ok(())
}

impl RoundTrip for IceoryxRequestResponse {
    fn name(&self) -> &'static str {
        if self.events.is_some() {
            "iceoryx2 0.10 req/resp + event, blocking"
        } else {
            "iceoryx2 0.10 req/resp, busy-poll"
        }
    }

    fn round_trip(&mut self) {
        if let Err(e) = self.try_round_trip() {
            panic!("{}: round trip failed: {e}", self.name());
        }
    }
}

impl Drop for IceoryxRequestResponse {
    fn drop(&mut self) {
        self.child.request_stop();
        // Wake a sleeping child right away instead of after its next idle timeout.
        if let Some(events) = &self.events {
            let _ = events.to_child.notify();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// iceoryx2 one-way rate
// ---------------------------------------------------------------------------------------------

/// Subscriber queue depth for the rate test.
const RATE_BUFFER: usize = 1024;

/// Sends `n` 64-byte messages via iceoryx2 publish-subscribe to a forked, busy-polling child;
/// returns messages per second from the first send until the child acknowledged the last one.
pub fn iceoryx2_messages_per_second(n: u64) -> f64 {
    iceoryx2_rate(n).expect("iceoryx2 rate benchmark failed")
}

fn iceoryx2_rate(n: u64) -> Result<f64, BoxError> {
    let names = ServiceNames::new();
    let mut child = IoxChild::spawn(|control| count_samples(control, &names, n))?;

    let node = iox_node()?;
    let data = node
        .service_builder(&names.get("data")?)
        .publish_subscribe::<[u8; 64]>()
        .open()?;
    let ack = node
        .service_builder(&names.get("ack")?)
        .publish_subscribe::<u64>()
        .open()?;
    let ack_subscriber = ack.subscriber_builder().create()?;
    // With safe overflow disabled on the service, a full subscriber queue makes the publisher
    // retry instead of dropping, so the child's count is exact.
    let publisher = data
        .publisher_builder()
        .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
        .create()?;
    // RetryUntilDelivered only blocks once the receiver has attached to the connection: while
    // it has not, a full queue makes iceoryx2 silently drop the sample ("no connected receiver
    // and the buffer is full", to avoid a deadlock) and send_copy returns 0 recipients. A
    // subscriber attaches lazily on its next receive(), and a descheduled child may not get
    // there before 1024 samples are queued, so wait for the child to confirm.
    child.wait_for_phase(PHASE_CONNECTED)?;

    let msg = [0xa5u8; 64];
    let start = Instant::now();
    for _ in 0..n {
        if publisher.send_copy(msg)? == 0 {
            return Err("sample was delivered to no subscriber".into());
        }
    }
    let mut spins: u32 = 0;
    let acked = loop {
        if let Some(sample) = ack_subscriber.receive()? {
            break *sample.payload();
        }
        spin_loop();
        spins = spins.wrapping_add(1);
        if spins % LIVENESS_CHECK_SPINS == 0 {
            child.process.ensure_alive()?;
        }
    };
    let elapsed = start.elapsed();
    if acked != n {
        return Err(format!("child acknowledged {acked} of {n} messages").into());
    }
    Ok(n as f64 / elapsed.as_secs_f64())
}

/// Child side of the rate test: counts `n` samples, then acknowledges with the count.
fn count_samples(control: &Control, names: &ServiceNames, n: u64) -> Result<(), BoxError> {
    let node = iox_node()?;
    let data = node
        .service_builder(&names.get("data")?)
        .publish_subscribe::<[u8; 64]>()
        .subscriber_max_buffer_size(RATE_BUFFER)
        .history_size(0)
        .enable_safe_overflow(false)
        .create()?;
    let ack = node
        .service_builder(&names.get("ack")?)
        .publish_subscribe::<u64>()
        .create()?;
    let subscriber = data
        .subscriber_builder()
        .buffer_size(RATE_BUFFER)
        .create()?;
    let ack_publisher = ack.publisher_builder().create()?;
    control.report_phase(PHASE_PORTS_CREATED);

    // A publisher registers itself only after it has set up its connections, so once it is
    // visible, update_connections() attaches the subscriber to it as receiver.
    while data.dynamic_config().number_of_publishers() == 0 {
        if control.stop_requested() {
            return Err("stopped before a publisher appeared".into());
        }
        thread::sleep(Duration::from_micros(50));
    }
    subscriber.update_connections()?;
    control.report_phase(PHASE_CONNECTED);

    let mut count: u64 = 0;
    while count < n {
        match subscriber.receive()? {
            Some(sample) => {
                black_box(sample.payload());
                count += 1;
            }
            None if control.stop_requested() => {
                return Err(format!("stopped after {count} of {n} samples").into());
            }
            None => spin_loop(),
        }
    }
    ack_publisher.send_copy(count)?;
    // Keep the ack publisher (whose memory holds the ack sample) alive until the parent has
    // read it; the parent requests the stop only afterwards. Timing is over, so sleep.
    while !control.stop_requested() {
        thread::sleep(Duration::from_micros(100));
    }
    Ok(())
}
