//! Main's decoding of a renderer's request ring, on bytes a hostile renderer
//! chose: it must return for every input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ringipc::fuzzing::request_ring(data);
});
