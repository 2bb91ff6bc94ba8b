//! Both sides of the call line on lines a hostile peer wrote: main taking
//! requests, a renderer reading answers. It must return for every input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ringipc::fuzzing::call_line(data);
});
