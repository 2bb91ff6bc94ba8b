//! A renderer's decoding of main's reply ring into its inbox, and the walk
//! over the inbox: it must return for every input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ringipc::fuzzing::reply_ring(data);
});
